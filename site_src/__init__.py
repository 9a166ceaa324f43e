"""Static site generator for a tax-notice help center.

The pipeline is load -> resolve -> render -> check -> write; see ``pipeline.py``.
"""

__version__ = "0.1.0"
