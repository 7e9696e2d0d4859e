"""The local org's objects and fields, as Salesforce's object reference lists them.

This is the one contract between the data generator (which fills the org's SQLite database) and
the REST layer (which validates and answers SOQL); the types and storage conventions are in
:mod:`oauthwatch.simulator.data.schema`. ``filterable=False`` reproduces Salesforce's restrictions
(LoginHistory filters only on the fields of its Usage list), so the local org rejects what a real
org rejects.
"""

from __future__ import annotations

from oauthwatch.simulator.data.catalog_access import ACCESS_OBJECTS
from oauthwatch.simulator.data.schema import (
    BASE64,
    BOOLEAN,
    DATETIME,
    DOUBLE,
    ID,
    INT,
    PICKLIST,
    REFERENCE,
    STRING,
    TEXTAREA,
    URL,
    Field,
    SObject,
)


def _f(name: str, type_: str = STRING, **kw: object) -> Field:
    return Field(name, type_, **kw)  # type: ignore[arg-type]


def _ref(name: str, to: str, rel: str | None, **kw: object) -> Field:
    return Field(name, REFERENCE, reference_to=to, relationship=rel, **kw)  # type: ignore[arg-type]


_LOGIN_HISTORY_FILTERABLE = {
    "AuthenticationServiceId",
    "CipherSuite",
    "CountryIso",
    "Id",
    "LoginTime",
    "LoginType",
    "LoginUrl",
    "NetworkId",
    "OptionsIsGet",
    "OptionsIsPost",
    "TlsProtocol",
    "UserId",
}


def _lh(name: str, type_: str = STRING, **kw: object) -> Field:
    return Field(name, type_, filterable=name in _LOGIN_HISTORY_FILTERABLE, **kw)  # type: ignore[arg-type]


OBJECTS: dict[str, SObject] = {}


def _add(obj: SObject) -> None:
    OBJECTS[obj.name.lower()] = obj


_add(
    SObject(
        "Organization",
        "00D",
        (
            _f("Id", ID, nillable=False),
            _f("Name"),
            _f("OrganizationType"),
            _f("InstanceName"),
            _f("IsSandbox", BOOLEAN),
            _f("TimeZoneSidKey", PICKLIST),
            _f("CreatedDate", DATETIME),
        ),
    )
)
for _access_object in ACCESS_OBJECTS:
    _add(_access_object)
_add(
    SObject(
        "User",
        "005",
        (
            _f("Id", ID, nillable=False),
            _f("Username"),
            _f("Name"),
            _f("FirstName"),
            _f("LastName"),
            _f("Email"),
            _f("IsActive", BOOLEAN),
            _f("UserType", PICKLIST),
            _ref("ProfileId", "Profile", "Profile"),
            _f("TimeZoneSidKey", PICKLIST),
            _f("LastLoginDate", DATETIME),
            _f("CreatedDate", DATETIME),
        ),
        indexes=(("Username",),),
    )
)
_add(
    SObject(
        "LoginGeo",
        "04F",
        (
            _f("Id", ID, nillable=False),
            _f("City"),
            _f("Country"),
            _f("CountryIso"),
            _f("Latitude", DOUBLE, groupable=False),
            _f("Longitude", DOUBLE, groupable=False),
            _f("LoginTime", DATETIME),
            _f("PostalCode"),
            _f("Subdivision"),
        ),
    )
)
_add(
    SObject(
        "LoginHistory",
        "0Ya",
        (
            _lh("Id", ID, nillable=False),
            _ref("UserId", "User", None, filterable=True),
            _lh("LoginTime", DATETIME, nillable=False),
            _lh("LoginType", PICKLIST, nillable=False),
            _lh("LoginSubType", PICKLIST),
            _lh("SourceIp"),
            _lh("ForwardedForIp"),
            _lh("LoginUrl"),
            _lh("Status"),
            _lh("Application"),
            _lh("Browser"),
            _lh("Platform"),
            _lh("ClientVersion"),
            _lh("ApiType"),
            _lh("ApiVersion"),
            _lh("CountryIso"),
            _ref("LoginGeoId", "LoginGeo", "LoginGeo", filterable=False),
            _ref("AuthenticationServiceId", "AuthProvider", "AuthenticationService", filterable=True),
            _lh("AuthMethodReference"),
            _ref("NetworkId", "Network", None, filterable=True),
            _lh("OptionsIsGet", BOOLEAN),
            _lh("OptionsIsPost", BOOLEAN),
            _lh("TlsProtocol", PICKLIST),
            _lh("CipherSuite", PICKLIST),
        ),
        indexes=(("LoginTime", "Id"), ("UserId", "LoginTime")),
    )
)
_add(
    SObject(
        "AppMenuItem",
        None,
        (
            _f("Id", ID, nillable=False),
            _f("ApplicationId"),
            _f("Name"),
            _f("Label"),
            _f("Description"),
            _f("Type", PICKLIST),
            _f("IsAccessible", BOOLEAN),
            _f("IsVisible", BOOLEAN),
            _f("IsUsingAdminAuthorization", BOOLEAN),
            _f("StartUrl", URL),
        ),
    )
)
_add(
    SObject(
        "OauthToken",
        None,
        (
            _f("Id", ID),
            _f("AccessToken"),
            _ref("AppMenuItemId", "AppMenuItem", "AppMenuItem"),
            _f("AppName"),
            _f("CreatedDate", DATETIME),
            _f("DeleteToken"),
            _f("LastUsedDate", DATETIME, groupable=False),
            _f("RequestToken"),
            _f("UseCount", INT),
            _ref("UserId", "User", "User"),
        ),
        batch_cap=500,
        total_cap=2500,
        indexes=(("UserId",), ("AppName",)),
    )
)
_add(
    SObject(
        "ConnectedApplication",
        "0H4",
        (
            _f("Id", ID, nillable=False),
            _f("Name"),
            _f("CreatedDate", DATETIME),
            _ref("CreatedById", "User", "CreatedBy"),
            _f("LastModifiedDate", DATETIME),
            _ref("LastModifiedById", "User", "LastModifiedBy"),
            _f("MobileSessionTimeout", PICKLIST),
            _f("MobileStartUrl", URL),
            _f("StartUrl", URL),
            _f("PinLength", PICKLIST),
            _f("OptionsAllowAdminApprovedUsersOnly", BOOLEAN),
            _f("OptionsRefreshTokenValidityMetric", BOOLEAN),
            _f("RefreshTokenValidityPeriod", INT),
            _f("OptionsHasSessionLevelPolicy", BOOLEAN),
            _f("OptionsAppIssueJwtTokenEnabled", BOOLEAN),
            _f("OptionsTokenExchangeManageBitEnabled", BOOLEAN),
            _f("NamedUserUvidTimeout", PICKLIST),
            _f("UvidTimeout", PICKLIST),
            _f("OptionsCodeCredentialGuestEnabled", BOOLEAN),
            _f("OptionsFullContentPushNotifications", BOOLEAN),
            _f("OptionsIsInternal", BOOLEAN),
        ),
    )
)
_add(
    SObject(
        "SetupEntityAccess",
        "0J0",
        (
            _f("Id", ID, nillable=False),
            _ref("ParentId", "PermissionSet", "Parent"),
            _f("SetupEntityId"),
            _f("SetupEntityType", PICKLIST),
        ),
    )
)
_add(
    SObject(
        "SetupAuditTrail",
        "0Ym",
        (
            _f("Id", ID, nillable=False),
            _f("Action"),
            _f("Section"),
            _f("CreatedDate", DATETIME),
            _ref("CreatedById", "User", "CreatedBy"),
            _f("Display", TEXTAREA),
            _f("DelegateUser"),
            _f("ResponsibleNamespacePrefix"),
        ),
        indexes=(("CreatedDate",),),
    )
)
_add(
    SObject(
        "EventLogFile",
        "0AT",
        (
            _f("Id", ID, nillable=False),
            _f("EventType", PICKLIST),
            _f("LogDate", DATETIME),
            _f("CreatedDate", DATETIME),
            _f("Interval", PICKLIST),
            _f("Sequence", INT),
            _f("LogFileLength", DOUBLE),
            _f("LogFile", BASE64, filterable=False, sortable=False, groupable=False),
            _f("LogFileContentType"),
            _f("LogFileFieldNames", TEXTAREA, filterable=False),
            _f("LogFileFieldTypes", TEXTAREA, filterable=False),
            _f("ApiVersion", DOUBLE),
        ),
        indexes=(("CreatedDate",), ("EventType", "LogDate")),
    )
)

# Real-Time Event Monitoring (Shield / Event Monitoring add-on): present only when licensed.
_add(
    SObject(
        "LoginEvent",
        None,
        (
            _f("Id", ID),
            _f("CreatedDate", DATETIME),
            _f("EventIdentifier"),
            _ref("UserId", "User", None),
            _f("Username"),
            _f("EventDate", DATETIME),
            _f("RelatedEventIdentifier"),
            _f("PolicyId"),
            _f("PolicyOutcome", PICKLIST),
            _f("EvaluationTime", DOUBLE),
            _f("SessionKey"),
            _f("LoginKey"),
            _f("SessionLevel", PICKLIST),
            _f("SourceIp"),
            _f("AdditionalInfo", TEXTAREA),
            _f("ApiType"),
            _f("ApiVersion"),
            _f("Application"),
            _f("AuthServiceId"),
            _f("Browser"),
            _f("HttpMethod", PICKLIST),
            _f("CountryIso"),
            _f("LoginLatitude", DOUBLE),
            _f("LoginLongitude", DOUBLE),
            _f("Country"),
            _f("City"),
            _f("PostalCode"),
            _f("Subdivision"),
            _f("CipherSuite", PICKLIST),
            _f("ClientVersion"),
            _f("LoginGeoId"),
            _f("LoginHistoryId"),
            _f("LoginType", PICKLIST),
            _f("LoginUrl"),
            _f("Platform"),
            _f("Status"),
            _f("TlsProtocol", PICKLIST),
            _f("UserType", PICKLIST),
            _f("AuthMethodReference"),
            _f("LoginSubType", PICKLIST),
        ),
        licensed_only=True,
        indexes=(("EventDate",),),
        # A big object: filters, ORDER BY and aggregates are held to this index (soql/bigobject.py).
        big_object_index=(("EventDate", True), ("EventIdentifier", True)),
    )
)
_THREAT_COMMON = (
    _f("Id", ID),
    _f("EventIdentifier"),
    _f("EventDate", DATETIME),
    _f("CreatedDate", DATETIME),
    _ref("UserId", "User", None),
    _f("Username"),
    _f("SourceIp"),
    _f("Score", DOUBLE),
    _f("Summary", TEXTAREA),
    _f("PolicyOutcome", PICKLIST),
    _f("LoginKey"),
    _f("SessionKey"),
    _f("SecurityEventData", TEXTAREA, filterable=False),
)
for _store in ("ApiAnomalyEventStore", "CredentialStuffingEventStore", "SessionHijackingEventStore"):
    _add(SObject(_store, None, _THREAT_COMMON, licensed_only=True, indexes=(("EventDate",),)))


# Fields that exist only with the Event Monitoring licence (docs/salesforce-behaviour.md §7).
EVENT_MONITORING_FIELDS = frozenset({("eventlogfile", "interval")})


def has_field(obj: SObject, name: str, *, event_monitoring: bool = True) -> bool:
    """Whether ``obj`` has field ``name`` in an org with (or without) Event Monitoring."""
    return obj.field(name) is not None and (
        event_monitoring or (obj.name.lower(), name.lower()) not in EVENT_MONITORING_FIELDS
    )


def get(name: str) -> SObject | None:
    """The sObject called ``name`` (case-insensitive), or None."""
    return OBJECTS.get(name.lower())
