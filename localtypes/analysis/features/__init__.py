"""The features of a slot, by what they read: names, values, docstrings, usage, returns."""
