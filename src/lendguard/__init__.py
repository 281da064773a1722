"""LendGuard: keeps a consumer-credit book healthy.

The core packages (``money``, ``dates``, ``products``, ``plans``, ``ledger``, ``delinquency``)
import no web framework, ORM or CLI library; ``store`` and ``cli`` sit on top of them.
"""

__version__ = "0.1.0"
