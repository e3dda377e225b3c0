"""Plaid-style error bodies."""

from __future__ import annotations

_DOCS = "https://plaid.com/docs/errors/"


class BankError(ValueError):
    """An error the bank answers with a Plaid error body."""

    def __init__(self, status: int, error_type: str, error_code: str, message: str,
                 display_message: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_type = error_type
        self.error_code = error_code
        self.error_message = message
        self.display_message = display_message
        self.headers = headers or {}  # extra HTTP response headers (Retry-After)

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


def rate_limit_exceeded(retry_after: int, why: str) -> BankError:
    return BankError(429, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT_EXCEEDED",
                     f"rate limit exceeded: {why}; retry after {retry_after}s",
                     headers={"Retry-After": str(retry_after)})


def item_login_required() -> BankError:
    return BankError(400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED",
                     "the login details of this item have changed (credentials, MFA, or "
                     "required user action) and a user login is required to update them",
                     "Your credentials have expired. Please log in to your bank again.")


def invalid_mfa() -> BankError:
    return BankError(400, "ITEM_ERROR", "INVALID_MFA",
                     "the institution requires a multi-factor authentication step; the user "
                     "must complete it through Link",
                     "Your bank needs you to verify your identity. Please log in again.")


def institution_error(code: str) -> BankError:
    messages = {
        "INSTITUTION_DOWN": "this institution is not currently responding to this request",
        "INSTITUTION_NOT_RESPONDING": "this institution is failing to respond to this request",
        "INSTITUTION_NOT_AVAILABLE": "this institution is not available for this request",
        "PLANNED_MAINTENANCE": "this institution is undergoing scheduled maintenance",
    }
    return BankError(400, "INSTITUTION_ERROR", code, messages[code],
                     "This financial institution is not currently responding. "
                     "Please try again later.")


def internal_server_error() -> BankError:
    return BankError(500, "API_ERROR", "INTERNAL_SERVER_ERROR",
                     "an unexpected error occurred", "An unexpected error occurred.")
