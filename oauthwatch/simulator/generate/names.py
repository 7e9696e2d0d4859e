"""Vocabulary of the generated org: people, places, browsers and the connected-app catalogue.

Kept apart from the generator so the model reads as data: each app says which OAuth flows it
uses, where its traffic comes from, how often it logs in and how its policies are set.
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Oliver",
    "Sophia",
    "Elijah",
    "Isabella",
    "Lucas",
    "Mia",
    "Mateo",
    "Amelia",
    "Levi",
    "Harper",
    "Ethan",
    "Evelyn",
    "James",
    "Aria",
    "Aiden",
    "Chloe",
    "Hugo",
    "Léa",
    "Louis",
    "Camille",
    "Jonas",
    "Hannah",
    "Felix",
    "Lena",
    "Priya",
    "Arjun",
    "Ananya",
    "Rohan",
    "Kavya",
    "Yuki",
    "Haruto",
    "Sakura",
    "Ren",
    "Aiko",
    "Chen",
    "Wei",
    "Mei",
    "Jack",
    "Charlotte",
    "William",
    "Grace",
    "Thomas",
    "Lucía",
    "Gabriel",
    "Beatriz",
    "Rafael",
    "Isla",
    "Oscar",
    "Freya",
    "Samuel",
    "Nora",
    "Daniel",
    "Zoe",
    "Maya",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Martin",
    "Jackson",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Nelson",
    "Hill",
    "Campbell",
    "Mitchell",
    "Roberts",
    "Carter",
    "Phillips",
    "Evans",
    "Dubois",
    "Lefebvre",
    "Moreau",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Sharma",
    "Patel",
    "Iyer",
    "Reddy",
    "Nair",
    "Tanaka",
    "Suzuki",
    "Sato",
    "Watanabe",
    "Kelly",
    "Murphy",
    "Silva",
    "Santos",
    "Costa",
    "Oliveira",
    "Novak",
]

ORG_NAMES = (
    ("Acme Corporation", "acme"),
    ("Globex Industries", "globex"),
    ("Initech Software", "initech"),
    ("Umbrella Health", "umbrellahealth"),
    ("Stark Logistics", "starklogistics"),
    ("Wayne Financial", "waynefinancial"),
)


@dataclass(frozen=True)
class Region:
    """A time zone where people work, with its office and home/mobile networks (geo.NETWORKS cidrs)."""

    tz: str
    weight: int
    office: str
    isp: tuple[str, ...]
    mobile: str
    domain_locale: str


REGIONS: tuple[Region, ...] = (
    Region(
        "America/Los_Angeles",
        26,
        "64.125.92.0/24",
        ("73.158.0.0/16", "2601:646::/32"),
        "172.56.0.0/16",
        "en_US",
    ),
    Region("America/New_York", 22, "66.162.40.0/24", ("98.217.0.0/16",), "2607:fb90::/32", "en_US"),
    Region("America/Chicago", 8, "12.221.132.0/24", ("24.15.0.0/16",), "172.56.0.0/16", "en_US"),
    Region("Europe/London", 12, "62.252.124.0/24", ("86.128.0.0/16",), "92.40.0.0/16", "en_GB"),
    Region("Europe/Paris", 8, "90.83.200.0/24", ("90.24.0.0/16",), "37.171.0.0/16", "fr_FR"),
    Region("Europe/Berlin", 6, "80.156.44.0/24", ("79.192.0.0/16", "2003:e6::/32"), "80.187.0.0/16", "de_DE"),
    Region("Asia/Kolkata", 8, "49.207.52.0/24", ("122.171.0.0/16",), "106.76.0.0/16", "en_IN"),
    Region("Asia/Tokyo", 4, "210.171.224.0/24", ("126.0.0.0/16",), "49.96.0.0/16", "ja_JP"),
    Region("Australia/Sydney", 3, "203.21.88.0/24", ("101.160.0.0/16",), "1.128.0.0/16", "en_AU"),
    Region("America/Sao_Paulo", 3, "177.69.180.0/24", ("189.100.0.0/16",), "177.79.0.0/16", "pt_BR"),
)

# (Browser, Platform, weight) for browser UI logins, in LoginHistory's wording.
DESKTOPS = (
    ("Chrome 131", "Windows 10", 34),
    ("Chrome 131", "Mac OSX", 22),
    ("Edge 131", "Windows 10", 14),
    ("Safari 18", "Mac OSX", 10),
    ("Firefox 133", "Windows 10", 5),
    ("Chrome 130", "Windows 10", 8),
    ("Chrome 131", "Linux", 3),
    ("Firefox 132", "Mac OSX", 4),
)
PHONES = (("iPhone", 60), ("Android 14", 40))

TLS = (("TLS 1.3", "TLS_AES_256_GCM_SHA384"), ("TLS 1.2", "ECDHE-RSA-AES256-GCM-SHA384"))

# Profiles: (Name, UserType, PermissionsApiEnabled, PermissionsApiUserOnly)
PROFILES = (
    ("System Administrator", "Standard", True, False),
    ("Standard User", "Standard", True, False),
    ("Sales User", "Standard", True, False),
    ("Support Agent", "Standard", True, False),
    ("Read Only", "Standard", False, False),
    ("Minimum Access - API Only Integrations", "Standard", True, True),
)
PERMISSION_SETS = (
    ("OAuthwatch_Integration", "OAuthwatch Integration"),
    ("Integration_Apps", "Integration Apps"),
    ("Data_Loader_Users", "Data Loader Users"),
    ("Mobile_Users", "Mobile Users"),
    ("Sales_Productivity_Apps", "Sales Productivity Apps"),
    ("Legacy_Quote_Access", "Legacy Quote Access"),
)


@dataclass(frozen=True)
class AppSpec:
    """One connected app of the generated org and how it behaves."""

    label: str
    kind: str  # oauthwatch | integration | user | mobile | dataloader | legacy
    flows: tuple[str, ...]  # jwt, client_credentials, web_server, refresh_token, password
    scopes: tuple[str, ...]
    networks: tuple[str, ...] = ()  # cidrs the app's servers call from (integration/vendor apps)
    rate: float = 0.0  # integration: logins per hour at 300 users; others: per grant per active hour
    adoption: float = 0.0  # share of human users holding a grant
    admin_approved: bool = False
    permission_set: str | None = None
    ip_relaxation: str = "ENFORCE"
    refresh_policy: str = "infinite"
    pkce: bool = False
    high_assurance: bool = False
    cert_days_left: int | None = None  # JWT apps: days until the uploaded certificate expires
    contact: str = "it-ops"
    start_url: str | None = None
    external: bool = False  # an External Client App: Metadata API only, no ConnectedApplication row


APPS: tuple[AppSpec, ...] = (
    AppSpec(
        "OAuthwatch",
        "oauthwatch",
        ("jwt", "client_credentials", "web_server", "refresh_token", "password"),
        ("Api", "RefreshToken"),
        admin_approved=True,
        permission_set="OAuthwatch_Integration",
        refresh_policy="specific_inactivity:30:DAYS",
        cert_days_left=365,
        contact="security",
    ),
    AppSpec(
        "MuleSoft Order Sync",
        "integration",
        ("jwt",),
        ("Api", "RefreshToken"),
        networks=("3.214.120.0/24", "2600:1f18:4000::/40"),
        rate=24.0,
        admin_approved=True,
        permission_set="Integration_Apps",
        cert_days_left=240,
    ),
    AppSpec(
        "Workato Recipes",
        "integration",
        ("client_credentials",),
        ("Api",),
        networks=("44.226.176.0/24",),
        rate=10.0,
        admin_approved=True,
        permission_set="Integration_Apps",
        external=True,
    ),
    AppSpec(
        "Jira Cloud Connector",
        "integration",
        ("jwt",),
        ("Api", "RefreshToken"),
        networks=("52.212.64.0/24",),
        rate=6.0,
        admin_approved=True,
        permission_set="Integration_Apps",
        cert_days_left=19,
    ),
    AppSpec(
        "Fivetran",
        "integration",
        ("web_server", "refresh_token"),
        ("Full", "RefreshToken"),
        networks=("34.122.48.0/24",),
        rate=4.0,
        admin_approved=True,
        permission_set="Integration_Apps",
    ),
    AppSpec(
        "Salesforce for iOS",
        "mobile",
        ("web_server", "refresh_token"),
        ("Api", "Web", "RefreshToken", "Chatter", "Content"),
        rate=0.14,
        adoption=0.42,
        refresh_policy="infinite",
        start_url=None,
    ),
    AppSpec(
        "Salesforce for Android",
        "mobile",
        ("web_server", "refresh_token"),
        ("Api", "Web", "RefreshToken", "Chatter", "Content"),
        rate=0.14,
        adoption=0.2,
    ),
    AppSpec(
        "Slack for Salesforce",
        "user",
        ("web_server", "refresh_token"),
        ("Api", "RefreshToken", "OpenID"),
        networks=("3.214.120.0/24",),
        rate=0.12,
        adoption=0.5,
        refresh_policy="specific_lifetime:90:DAYS",
        external=True,
    ),
    AppSpec(
        "DocuSign eSignature",
        "user",
        ("web_server", "refresh_token"),
        ("Api", "RefreshToken", "Web"),
        networks=("44.226.176.0/24", "18.184.16.0/24"),
        rate=0.08,
        adoption=0.25,
        admin_approved=True,
        permission_set="Sales_Productivity_Apps",
        refresh_policy="specific_inactivity:30:DAYS",
        pkce=True,
    ),
    AppSpec(
        "Dataloader Partner",
        "dataloader",
        ("web_server", "refresh_token", "password"),
        ("Api", "Web", "RefreshToken"),
        rate=0.25,
        adoption=0.0,
        admin_approved=True,
        permission_set="Data_Loader_Users",
    ),
    AppSpec(
        "Legacy Quote Tool",
        "legacy",
        ("password",),
        ("Api",),
        networks=("12.221.132.0/24",),
        rate=3.0,
        ip_relaxation="BYPASS",
        permission_set="Legacy_Quote_Access",
        admin_approved=True,
    ),
    AppSpec(
        "Zapier",
        "user",
        ("web_server", "refresh_token"),
        ("Full", "RefreshToken"),
        networks=("20.61.32.0/24",),
        rate=0.06,
        adoption=0.08,
    ),
)

EXTRA_USER_APP_NAMES = (
    "Gong Call Sync",
    "Outreach Sequences",
    "Conga Composer",
    "ZoomInfo Enrich",
    "Tableau Connector",
    "Asana Sync",
    "Box for Salesforce",
    "HubSpot Bridge",
)


def full_name(label: str) -> str:
    """The Metadata API developer name of an app label (letters, digits and underscores)."""
    out = "".join(ch if ch.isalnum() else "_" for ch in label)
    while "__" in out:
        out = out.replace("__", "_")
    return out.strip("_")
