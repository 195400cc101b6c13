"""textloop: the shared domain code of the active-learning loop (shipped in the Lambda layer).

Importing the package is cheap on purpose: scikit-learn, ijson and boto3 are only imported by the
modules that need them, so the feedback Lambda does not pay the classifier's cold start.
"""

__version__ = "0.1.0"
