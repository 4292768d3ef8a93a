"""Annotating files on disk: ``runner.run`` over ``discovery``'s selection, ``cache`` first,
then each file's ``task`` in this process or a pool (``concurrency``); ``files`` reads and
writes them byte-faithfully and ``report`` says it all."""
