"""Training and test data sets in Amazon Comprehend's formats, built from the annotation pool.

* ``formats``: reading and writing Comprehend's CSV and entity files.
* ``rules``: Comprehend's rules for training data, as one report of every problem.
* ``split``: the frozen split, which keeps the test set fixed across iterations.
* ``build``: one data set version from the seed data and the pool (``build_datasets``).
* ``seed``: the imported seed data of either model type, read and written (``seed_documents``).
* ``ground_truth``: SageMaker Ground Truth NER output manifests, read into entity documents.
"""
