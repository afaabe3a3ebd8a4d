"""Pre-flight: before a real campaign, will inboxes accept its mail? One checklist line each.

Gmail and Yahoo (February 2024) refuse bulk mail that is not authenticated
(SPF, DKIM, DMARC, aligned with the From domain), has no one-click
unsubscribe or is sent too fast; CAN-SPAM wants a postal address. None of
that shows in the sandbox, so ``mailbranch preflight`` and the Run dialog's
panel check it from here: the sender domain's DNS records (dnspython), the
public URL over https, the DKIM key against the published record, the
footer, and a simulation of the campaign at the configured send rate
against the provider's daily limit.

A check that needs the network says "could not check" (status ``unknown``)
when the network or DNS cannot be reached; it never fails the whole report
for that. DNS and HTTP are passed in as functions so tests serve them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from engine.delivery.dkim_signing import load_key
from engine.delivery.identity import SenderError, SenderIdentity, flow_identities, sender_problems
from engine.delivery.layout import Theme

PASS, FAIL, WARN, UNKNOWN = "pass", "fail", "warn", "unknown"
COULD_NOT_CHECK = "could not check"

#: Daily limits providers state for one account (recipients a day), by SMTP host.
PROVIDER_LIMITS = {
    "smtp.gmail.com": ("Google Workspace", 2000),
    "smtp.mail.yahoo.com": ("Yahoo Mail", 500),
    "smtp.office365.com": ("Microsoft 365", 10000),
    "smtp-mail.outlook.com": ("Outlook.com", 300),
}


class DnsUnavailable(Exception):
    """DNS cannot be asked (no network, no resolver, time-out): the check says "could not check"."""


#: name -> the TXT strings published there ([] for none); raises DnsUnavailable.
TxtLookup = Callable[[str], list[str]]
#: url -> None when it answers as the tracking server does, else the reason; raises DnsUnavailable.
HttpProbe = Callable[[str], Optional[str]]


def dns_txt(name: str) -> list[str]:
    """The TXT records at ``name``, with dnspython; DnsUnavailable when DNS cannot be asked."""
    import dns.exception
    import dns.resolver

    try:
        answer = dns.resolver.resolve(name, "TXT", lifetime=4.0)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.resolver.NoNameservers, dns.exception.Timeout, dns.resolver.NoResolverConfiguration,
            OSError) as exc:
        raise DnsUnavailable(str(exc) or type(exc).__name__) from None
    return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]


def http_probe(url: str) -> Optional[str]:
    """GET ``url`` (the tracking pixel): None when it answers 200 with a GIF, else why not."""
    import socket
    import ssl
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=6) as response:  # noqa: S310 - an https URL we built
            if response.status == 200 and response.headers.get_content_type() == "image/gif":
                return None
            return f"it answered {response.status} {response.headers.get_content_type()}, not the tracking pixel"
    except urllib.error.HTTPError as exc:
        return f"it answered {exc.code}: is the tracking server (or relay) behind it?"
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (ssl.SSLError, ssl.CertificateError)):
            return f"its certificate does not verify ({exc.reason})"
        if isinstance(exc.reason, socket.gaierror):
            raise DnsUnavailable(str(exc.reason)) from None
        return f"it cannot be reached ({exc.reason})"
    except (TimeoutError, OSError) as exc:
        raise DnsUnavailable(str(exc)) from None


@dataclass(frozen=True)
class Check:
    key: str
    status: str
    title: str
    detail: str = ""

    def as_json(self) -> dict[str, str]:
        return {"key": self.key, "status": self.status, "title": self.title, "detail": self.detail}


@dataclass
class Preflight:
    checks: list[Check] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """Nothing failed (a check that could not be made does not stop a campaign)."""
        return not any(c.status == FAIL for c in self.checks)

    def get(self, key: str) -> Optional[Check]:
        return next((c for c in self.checks if c.key == key), None)

    def as_json(self) -> dict[str, Any]:
        return {"ready": self.ready, "checks": [c.as_json() for c in self.checks]}


def _records(lookup: TxtLookup, name: str, prefix: str) -> tuple[Optional[list[str]], Optional[str]]:
    """(records starting with ``prefix``, None) or (None, why DNS could not be asked)."""
    try:
        return [r for r in lookup(name) if r.strip().lower().startswith(prefix)], None
    except DnsUnavailable as exc:
        return None, str(exc)


def _dns_checks(identity: SenderIdentity, lookup: TxtLookup) -> list[Check]:
    domain, bounce = identity.domain, identity.bounce_domain
    checks = []
    spf, why = _records(lookup, bounce, "v=spf1")
    title = f"SPF record for {bounce}"
    if spf is None:
        checks.append(Check("spf", UNKNOWN, title, f"{COULD_NOT_CHECK}: DNS cannot be reached ({why})"))
    elif not spf:
        checks.append(Check("spf", FAIL, title, f"{bounce} publishes no SPF record; add the TXT record your mail "
                                                "provider gives, such as v=spf1 include:<provider> ~all"))
    elif len(spf) > 1:
        checks.append(Check("spf", FAIL, title, f"{bounce} publishes {len(spf)} SPF records; keep exactly one"))
    else:
        checks.append(Check("spf", PASS, title, spf[0]))
    key = load_key(domain)
    title = f"DKIM key for {domain}"
    if key is None:
        checks.append(Check("dkim", FAIL, title, f"no DKIM key here signs {domain}'s emails; make one with "
                                                 f"mailbranch dkim new --domain {domain} --selector mb1 and "
                                                 "publish the record it prints"))
    else:
        published, why = _records(lookup, key.record_name, "v=dkim1")
        expected = key.public_base64()
        if published is None:
            checks.append(Check("dkim", UNKNOWN, title, f"{COULD_NOT_CHECK}: DNS cannot be reached ({why})"))
        elif not published:
            checks.append(Check("dkim", FAIL, title, f"the record is not published at {key.record_name}; "
                                                     f"mailbranch dkim show --domain {domain} prints it"))
        elif not any(_dkim_key(r) == expected for r in published):
            checks.append(Check("dkim", FAIL, title, f"{key.record_name} publishes another key than the one "
                                                     "that signs here; publish the record dkim show prints"))
        else:
            checks.append(Check("dkim", PASS, title, f"signed with selector {key.selector}; the published record "
                                                     "matches"))
    dmarc, why = _records(lookup, f"_dmarc.{domain}", "v=dmarc1")
    title = f"DMARC record for {domain}"
    if dmarc is None:
        checks.append(Check("dmarc", UNKNOWN, title, f"{COULD_NOT_CHECK}: DNS cannot be reached ({why})"))
    elif not dmarc:
        checks.append(Check("dmarc", FAIL, title, f"publish a TXT record at _dmarc.{domain}, at least "
                                                  f"v=DMARC1; p=none; rua=mailto:dmarc@{domain}"))
    else:
        checks.append(Check("dmarc", PASS, title, dmarc[0]))
    return checks


def _dkim_key(record: str) -> str:
    tags = dict(part.strip().split("=", 1) for part in record.split(";") if "=" in part)
    return "".join(tags.get("p", "").split())


def _aligned(bounce: str, domain: str) -> bool:
    """Relaxed alignment, approximated: the same domain or one is a subdomain of the other."""
    return bounce == domain or bounce.endswith("." + domain) or domain.endswith("." + bounce)


def _volume(flow: Any, leads: Optional[Sequence[Any]], rate: Optional[float], limit: Optional[tuple[str, int]]
            ) -> Check:
    title = "Emails per day against the provider's limit"
    if not leads:
        return Check("volume", UNKNOWN, title, "give the lead list to simulate how many emails go out a day")
    from engine.sim.simulate import simulate

    result = simulate(flow, leads, send_rate=rate)
    per_day = Counter(int(send["at"] // 86400) for send in result.sends)
    peak = max(per_day.values(), default=0)
    pace = f"at {rate:g}/s" if rate else "with no rate limit"
    text = f"{len(result.sends):,} emails, at most {peak:,} on one day ({pace})"
    if limit is None:
        return Check("volume", WARN, title, f"{text}; the provider's daily limit is not known here: compare it "
                                            "with your plan's")
    provider, daily = limit
    if peak > daily:
        return Check("volume", FAIL, title, f"{text}, over {provider}'s {daily:,} a day: lower the send rate "
                                            "(?rate= in the server URL) or split the list")
    return Check("volume", PASS, title, f"{text}, within {provider}'s {daily:,} a day")


def preflight(flow: Any, *, public_url: Optional[str], smtp: Any = None, leads: Optional[Sequence[Any]] = None,
              daily_limit: Optional[int] = None, lookup: TxtLookup = dns_txt, probe: HttpProbe = http_probe
              ) -> Preflight:
    """Every check for ``flow`` sent through ``smtp`` (``SmtpSettings``; None: unknown) with links at ``public_url``."""
    report = Preflight()
    add = report.checks.append
    problems = sender_problems(flow)
    identities = [i for i in flow_identities(flow) if i.configured]
    if problems:
        add(Check("sender", FAIL, "Sender", problems[0][1]))
    elif not identities or len(identities) < len(flow_identities(flow)):
        add(Check("sender", FAIL, "Sender", "no sender is set: emails would come from mailbranch.local, which no "
                                            "inbox accepts; set the From address at your own domain"))
    else:
        add(Check("sender", PASS, "Sender", ", ".join(i.from_header() for i in identities)))
    for identity in {i.domain: i for i in identities}.values():
        report.checks += _dns_checks(identity, lookup)
        aligned = _aligned(identity.bounce_domain, identity.domain)
        add(Check("alignment", PASS if aligned else WARN, f"From domain {identity.domain} aligned",
                  "DKIM signs as the From domain" + ("; bounces go to the same domain (SPF aligned)" if aligned else
                                                     f"; bounces go to {identity.bounce_domain}, which SPF does not "
                                                     "align with the From domain")))
    url = (public_url or "").strip().rstrip("/")
    title = "Public URL for links, the pixel and unsubscribe"
    if not url.lower().startswith("https://"):
        add(Check("public-url", FAIL, title, f"“{url or 'none'}” is not an https address leads can reach; run the "
                                             "tracking server (or mailbranch relay) behind https and give its URL"))
    else:
        try:
            reason = probe(f"{url}/o/preflight.gif")
        except DnsUnavailable as exc:
            add(Check("public-url", UNKNOWN, title, f"{COULD_NOT_CHECK}: {url} cannot be reached from here ({exc})"))
        else:
            add(Check("public-url", PASS if reason is None else FAIL, title,
                      f"{url} answers" if reason is None else f"{url}: {reason}"))
    dkim_ok = all(load_key(i.domain) is not None for i in identities) and bool(identities)
    https = url.lower().startswith("https://")
    missing = [what for what, ok in (("an https public URL", https), ("a DKIM key that signs the headers", dkim_ok))
               if not ok]
    add(Check("one-click", PASS if not missing else FAIL, "One-click unsubscribe (RFC 8058)",
              "List-Unsubscribe with the https link and a mailto:, List-Unsubscribe-Post, both signed"
              if not missing else "needs " + " and ".join(missing)))
    theme = Theme.from_flow(flow.extra.get("theme"))
    add(Check("postal-address", PASS if theme.address else FAIL, "Postal address in the footer (CAN-SPAM)",
              theme.address.replace("\n", ", ") if theme.address else
              "write the sender's postal address in the campaign's theme (Campaign settings)"))
    report.checks += _bulk_sender_rules(report, smtp)
    host = (getattr(smtp, "host", "") or "").lower()
    limit = (f"your plan ({host or 'the server'})", daily_limit) if daily_limit else PROVIDER_LIMITS.get(host)
    add(_volume(flow, leads, getattr(smtp, "rate_per_second", None), limit))
    return report


def _bulk_sender_rules(report: Preflight, smtp: Any) -> list[Check]:
    """Gmail's and Yahoo's rules for bulk senders (5,000+ a day), one line each."""
    def status(*keys: str) -> str:
        found = [report.get(k) for k in keys]
        if any(c is None or c.status == FAIL for c in found):
            return FAIL
        return UNKNOWN if any(c.status == UNKNOWN for c in found) else PASS

    tls = UNKNOWN
    if smtp is not None and not getattr(smtp, "sandbox", False):
        tls = PASS if (smtp.use_tls or smtp.start_tls is not False) else FAIL
    return [
        Check("rule-auth", status("spf", "dkim"), "Gmail/Yahoo: authenticate with SPF and DKIM"),
        Check("rule-dmarc", status("dmarc"), "Gmail/Yahoo: publish DMARC (p=none at least)"),
        Check("rule-alignment", status("dkim", "alignment"), "Gmail/Yahoo: From domain aligned with DKIM or SPF"),
        Check("rule-unsubscribe", status("one-click"), "Gmail/Yahoo: one-click unsubscribe, honoured within 2 days",
              "an unsubscribe is honoured at once (the suppression list)" if status("one-click") == PASS else
              "see the one-click unsubscribe line above"),
        Check("rule-format", PASS, "Gmail/Yahoo: messages formatted per RFC 5322",
              "dates with a numeric zone, folded headers, Message-IDs at the sender's domain"),
        Check("rule-tls", tls, "Gmail/Yahoo: TLS to the receiving servers",
              "the outgoing server is reached over TLS" if tls == PASS else
              "the outgoing server is reached without TLS" if tls == FAIL else
              "depends on the outgoing server; choose one that relays over TLS"),
        Check("rule-ptr", UNKNOWN, "Gmail/Yahoo: valid forward and reverse DNS for the sending IP",
              f"{COULD_NOT_CHECK} from here: the outgoing server's provider sets it; ask them"),
        Check("rule-spam-rate", UNKNOWN, "Gmail/Yahoo: spam complaints under 0.3%",
              "watch Google Postmaster Tools and Yahoo's complaint feedback loop after sending"),
    ]


__all__ = ["COULD_NOT_CHECK", "Check", "DnsUnavailable", "FAIL", "PASS", "PROVIDER_LIMITS", "Preflight", "UNKNOWN",
           "WARN", "dns_txt", "http_probe", "preflight", "SenderError"]
