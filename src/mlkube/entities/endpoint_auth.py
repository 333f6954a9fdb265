"""An endpoint's credentials as ``get_keys`` returns them (Azure ML's two shapes).

Key-mode endpoints return ``EndpointAuthKeys`` (primary and secondary key, never
expiring); ``aml_token`` endpoints return ``EndpointAuthToken`` (an expiring token and when
to refresh it). Their ``repr`` hides the secrets, so printing the object or logging it
cannot leak them; read the attributes to use them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class EndpointAuthKeys:
    """The two keys of a key-mode endpoint; either authenticates (``Bearer <key>``)."""

    primary_key: str
    secondary_key: str

    def __repr__(self) -> str:
        return "EndpointAuthKeys(primary_key=***, secondary_key=***)"


@dataclass(frozen=True)
class EndpointAuthToken:
    """A token of an ``aml_token`` endpoint; times are Unix seconds, UTC."""

    access_token: str
    expiry_time_utc: int
    refresh_after_time_utc: int
    token_type: str = "Bearer"

    def __repr__(self) -> str:
        return (f"EndpointAuthToken(access_token=***, expiry_time_utc={self.expiry_time_utc}, "
                f"refresh_after_time_utc={self.refresh_after_time_utc})")

    def to_dict(self) -> dict[str, object]:
        """The fields as Azure ML's CLI prints them (``get-credentials -o json``)."""
        return asdict(self)
