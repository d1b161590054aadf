"""payhive-accounts: the account-management API of Payhive."""

__version__ = "0.9.0"
