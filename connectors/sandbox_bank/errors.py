"""Plaid-style error bodies."""

from __future__ import annotations

_DOCS = "https://plaid.com/docs/errors/"


class BankError(ValueError):
    """An error the bank answers with a Plaid error body."""

    def __init__(self, status: int, error_type: str, error_code: str, message: str,
                 display_message: str | None = None) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_type = error_type
        self.error_code = error_code
        self.error_message = message
        self.display_message = display_message

    def body(self, request_id: str) -> dict:
        return error_body(self.status, self.error_type, self.error_code, self.error_message,
                          request_id, self.display_message)


def error_body(status: int, error_type: str, error_code: str, message: str, request_id: str,
               display_message: str | None = None) -> dict:
    """The JSON Plaid sends with a non-2xx status."""
    return {
        "error_type": error_type, "error_code": error_code, "error_code_reason": None,
        "error_message": message, "display_message": display_message,
        "request_id": request_id, "causes": [], "status": status,
        "documentation_url": _DOCS + error_type.lower().replace("_", "-"),
        "suggested_action": None,
    }


def invalid_field(message: str) -> BankError:
    return BankError(400, "INVALID_REQUEST", "INVALID_FIELD", message)


def invalid_access_token() -> BankError:
    return BankError(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN",
                     "provided access token is in an invalid format or does not exist")


def invalid_api_keys() -> BankError:
    return BankError(400, "INVALID_INPUT", "INVALID_API_KEYS",
                     "invalid client_id or secret provided")


def mutation_during_pagination() -> BankError:
    return BankError(400, "TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION",
                     "underlying transaction data changed since the last page was fetched; "
                     "restart pagination from the first cursor of this update")
