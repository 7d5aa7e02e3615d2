"""Hotdog or Not: a classroom demo of deep learning that really learns hot dogs.

The library behind the app: data, models, training runs, verdicts and evaluation. It never imports Streamlit,
and TensorFlow is imported only by the parts that need it.
"""

__version__ = "0.1.0"
