from __future__ import annotations

import re
from email import message_from_bytes, policy
from urllib.parse import urlsplit

from engine.delivery.html_text import html_to_text
from engine.delivery.render import EmailContent, message_id, render_content, render_email, sender_domain
from engine.delivery.tracked_links import TrackingUrls

PUBLIC = "https://t.mailbranch.example"
UID = "Xq3v9Lr0bS2mTzK7aP1wYg"


def render(tokens, html, subject="Hi", text=None, fields=None):
    urls = TrackingUrls(PUBLIC, tokens, campaign_uid=UID, send_id=41, lead_id=9, email="ann@example.com")
    return render_email(
        EmailContent(subject, html, text), fields or {}, email="ann@example.com",
        sender="Shop <shop@example.com>", urls=urls, token_id=12, node_id="e1",
    )


def parts(message):
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    return parsed, parsed.get_body(("plain",)).get_content(), parsed.get_body(("html",)).get_content()


def test_missing_fields_render_empty_and_defaults_apply():
    content = EmailContent(
        'Hi {{ first_name | default("there") }}', "<p>{{ first_name }}|{{ company.name }}|{{ email }}</p>")
    rendered = render_content(content, {}, "ann@example.com")
    assert rendered.subject == "Hi there"
    assert rendered.html == "<p>||ann@example.com</p>"
    assert rendered.errors == []


def test_blank_cell_counts_as_missing_for_default():
    rendered = render_content(EmailContent('Hi {{ first_name | default("there") }}', "x"), {"first_name": ""}, "a@b.c")
    assert rendered.subject == "Hi there"


def test_lead_values_are_escaped_in_html_but_not_in_subject():
    rendered = render_content(EmailContent("{{ n }}", "<p>{{ n }}</p>"), {"n": "Tom & <Jerry>"}, "a@b.c")
    assert rendered.subject == "Tom & <Jerry>"
    assert rendered.html == "<p>Tom &amp; &lt;Jerry&gt;</p>"


def test_runtime_error_falls_back_to_plain_wording_and_is_recorded():
    content = EmailContent("Sale {{ 1 / 0 }}today", "<p>{{ range(10**7) | list }}Hello</p>")
    rendered = render_content(content, {}, "a@b.c")
    assert rendered.subject == "Sale today"
    assert rendered.html == "<p>Hello</p>"
    assert len(rendered.errors) == 2
    assert rendered.errors[0].startswith("subject: ZeroDivisionError")
    assert rendered.errors[1].startswith("html: OverflowError")  # the sandbox's range limit


def test_field_with_line_break_cannot_break_the_subject_header(tokens):
    email = render(tokens, "<p>x</p>", subject="Hi {{ n }}", fields={"n": "Ann\r\nBcc: all@example.com"})
    assert email.message["Subject"] == "Hi Ann Bcc: all@example.com"
    assert "Bcc" not in email.message.keys()


def test_text_part_is_derived_from_html_keeping_link_urls():
    text = html_to_text(
        "<html><head><style>p{color:red}</style></head><body><h1>Spring offer</h1>"
        "<p>See <a href='https://shop.example/offer'>our offer</a>.</p>"
        "<ul><li>One</li><li>Two</li></ul><p>Line<br>break &amp; more</p></body></html>")
    assert text == "Spring offer\n\nSee our offer (https://shop.example/offer).\n\n- One\n- Two\n\nLine\nbreak & more"


def test_given_text_part_is_used_instead_of_derived(tokens):
    email = render(tokens, "<p>html words</p>", text="Plain {{ email }}")
    _, text, _ = parts(email.message)
    assert text.startswith("Plain ann@example.com")
    assert "html words" not in text


def test_links_are_tracked_pixel_and_unsubscribe_present(tokens):
    html = ('<html><body><p><a class="btn" href="https://shop.example/offer?a=1&amp;b=2">Offer</a> '
            "<a href='mailto:shop@example.com'>mail us</a> <a href=\"#top\">top</a></p></body></html>")
    email = render(tokens, html)
    assert email.tracked_links == ("https://shop.example/offer?a=1&b=2",)
    parsed, text, body = parts(email.message)
    hrefs = re.findall(r'href="([^"]+)"', body)
    click = [h for h in hrefs if "/c/" in h]
    assert len(click) == 1 and click[0].startswith(PUBLIC + "/c/")
    claim = tokens.read_click(urlsplit(click[0]).path.rsplit("/", 1)[1])
    assert (claim.campaign_uid, claim.send_id, claim.url) == (UID, 41, "https://shop.example/offer?a=1&b=2")
    assert 'class="btn"' in body and "href='mailto:shop@example.com'" in body and 'href="#top"' in body
    pixel = re.search(r'<img src="([^"]+)" width="1" height="1"', body).group(1)
    assert pixel.startswith(PUBLIC + "/o/") and pixel.endswith(".gif")
    assert tokens.read_open(pixel[len(PUBLIC) + 3:-4]).send_id == 41
    assert body.index("<img") < body.index("</body>")
    unsubscribe = parsed["List-Unsubscribe"].strip().strip("<>")
    assert unsubscribe.startswith(PUBLIC + "/u/")
    claim = tokens.read_unsubscribe(unsubscribe.rsplit("/", 1)[1])
    assert (claim.campaign_uid, claim.lead_id, claim.email) == (UID, 9, "ann@example.com")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe in body and f"Unsubscribe: {unsubscribe}" in text


def test_message_headers_and_alternative_structure(tokens):
    email = render(tokens, "<p>Hello</p>", subject="Hello {{ email }}")
    message = email.message
    assert message["From"] == "Shop <shop@example.com>"
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == "Hello ann@example.com"
    assert message["Message-ID"] == f"<t12.e1.{UID}@example.com>"  # the sender's domain
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


def test_message_id_is_deterministic_and_distinct():
    assert message_id(UID, 12, "e1") == message_id(UID, 12, "e1")
    ids = {message_id(c, t, n) for c, t, n in [("a", 1, "e1"), ("a", 1, "e2"), ("a", 2, "e1"), ("b", 1, "e1"),
                                               ("a", 1, "e.1"), ("a", 1, "e=2E1"), ("a", 1, "ü x"),
                                               ("a-b_c", 1, "e1")]}
    assert len(ids) == 8
    assert all(re.fullmatch(r"<[A-Za-z0-9_=.-]+@mailbranch\.local>", m) for m in ids)


def test_message_id_domain_is_the_senders_domain_in_ascii():
    assert sender_domain("Shop <News@Shop.Example>") == "shop.example"
    assert sender_domain("jörg@exämple.com") == "xn--exmple-cua.com"
    assert sender_domain("") == sender_domain("no address") == sender_domain("a@[10.0.0.1]") == "mailbranch.local"
    assert message_id(UID, 7, "e2", sender_domain("Jörg <j@bücher.example>")) == f"<t7.e2.{UID}@xn--bcher-kva.example>"


def test_template_cannot_reach_python_internals():
    rendered = render_content(EmailContent("{{ ''.__class__.__mro__ }}x", "<p>{{ email.__class__ }}</p>"), {}, "a@b.c")
    assert rendered.subject == "x"
    assert rendered.html == "<p></p>"
