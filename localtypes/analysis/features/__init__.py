"""The features of a slot, by what they read: names, values, docstrings, usage, returns."""

# Bump whenever a change alters any slot's features: a model is only valid for the
# features it was trained on, and the loader refuses a store made for another version.
# (Here, not in extract: checking a store must not import the whole extractor.)
FEATURES_VERSION = 5
