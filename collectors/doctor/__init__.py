"""``oauthwatch check``: authenticate, call the sample endpoints, judge the app, probe the sources.

- :mod:`collectors.doctor.checks`: the checks, org by org;
- :mod:`collectors.doctor.report`: the findings and facts they produce, and the exit code;
- :mod:`collectors.doctor.app_posture`: how oauthwatch's own Connected App is set up;
- :mod:`collectors.doctor.access`: can the integration user read what each source needs.
"""

from __future__ import annotations

from collectors.doctor.checks import check_all, check_org
from collectors.doctor.report import Finding, OrgReport, exit_code, judge_expiry

__all__ = ["Finding", "OrgReport", "check_all", "check_org", "exit_code", "judge_expiry"]
