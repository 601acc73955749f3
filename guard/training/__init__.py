"""Training and evaluation of the embedded guard (offline; the runtime guard never imports it).

* :mod:`guard.training.datasets`: readers for the public sets in ``../shared/data/safety``
  and the project's own rows in ``guard/data``;
* :mod:`guard.training.corpus`: ``kateder guard build-data`` (train / dev / test files, data card);
* :mod:`guard.training.train`: ``kateder guard train`` (the shipped recipe);
* :mod:`guard.training.evaluate`: the evaluation harness behind ``kateder guard eval`` and bench/.
"""
