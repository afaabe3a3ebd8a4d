"""Emails that look designed: the layout, the theme, Markdown bodies, and tracking on top of them."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit

from engine.delivery.layout import DEFAULT_COLOR, Theme
from engine.delivery.render import EmailContent, email_content, preview_email, render_content, render_email
from engine.delivery.tracked_links import TrackingUrls
from engine.flow.fileformat import load_flow

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = "https://t.mailbranch.example"
UID = "Xq3v9Lr0bS2mTzK7aP1wYg"
THEME = Theme(logo="https://shop.example/logo.png", color="#0F766E", footer="You shop with us.",
              address="Spring Shop, 12 Market Street, Springfield, IL 62701")


def send(tokens, content: EmailContent, fields=None):
    """The message as a send builds it, parsed back as a mail client reads it."""
    urls = TrackingUrls(PUBLIC, tokens, campaign_uid=UID, send_id=41, lead_id=9, email="ann@example.com")
    email = render_email(content, fields or {}, email="ann@example.com", sender="Shop <shop@example.com>",
                         urls=urls, token_id=12, node_id="e1")
    parsed = message_from_bytes(email.message.as_bytes(), policy=policy.default)
    return email, parsed, parsed.get_body(("plain",)).get_content(), parsed.get_body(("html",)).get_content()


def test_a_fragment_goes_out_in_a_600px_single_column_layout_with_inlined_css(tokens):
    _, _, _, html = send(tokens, EmailContent("Hi", "<p>Hello there</p><h2>News</h2>", theme=THEME))
    assert html.startswith("<!DOCTYPE html>")
    assert 'name="viewport"' in html
    assert re.search(r'<table[^>]*class="mb-container"[^>]*width="600"[^>]*style="[^"]*max-width: 600px', html)
    # The body's own tags carry their styles: nothing depends on a <style> block but the phone tweak.
    assert '<p style="margin: 0 0 16px 0;">Hello there</p>' in html
    assert re.search(r'<h2 style="[^"]*font-size: 21px', html)
    assert "Helvetica, Arial, sans-serif" in html
    styles = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    assert len(styles) == 1 and styles[0].strip().startswith("@media only screen and (max-width: 620px)")


def test_the_theme_colour_logo_footer_and_postal_address_are_in_the_email(tokens):
    _, _, text, html = send(tokens, EmailContent("Hi", '<p><a href="https://shop.example/a">Shop</a></p>',
                                                  theme=THEME))
    assert re.search(r'<td class="mb-bar"[^>]*bgcolor="#0F766E"[^>]*style="background-color: #0F766E;', html)
    assert re.search(r'<a href="[^"]+" style="color: #0F766E;', html)  # links in the brand colour
    assert '<img src="https://shop.example/logo.png"' in html
    assert "You shop with us." in html and "Spring Shop, 12 Market Street, Springfield, IL 62701" in html
    # The text part keeps the footer and the address too (CAN-SPAM), before the unsubscribe line.
    assert text.index("Spring Shop, 12 Market Street") < text.index("Unsubscribe: ")


def test_without_a_theme_the_defaults_give_a_clean_email_without_logo(tokens):
    _, _, _, html = send(tokens, EmailContent("Hi", "<p>Plain</p>"))
    assert f'bgcolor="{DEFAULT_COLOR}"' in html
    assert 'class="mb-logo"' not in html
    assert '<p style="margin: 0 0 16px 0;">Plain</p>' in html


def test_a_markdown_body_is_rendered_with_its_merge_fields_and_tracked_links(tokens):
    body = ('# Spring offer\n\nHi {{ first_name | default("there") }}, our **offer** is live: '
            '[see it](https://shop.example/offer?ref={{ ref }}).\n\n- one\n- two\n')
    email, _, text, html = send(tokens, EmailContent("Hi", body, format="markdown", theme=THEME),
                                {"first_name": "Tom & Jerry", "ref": "mail"})
    assert re.search(r"<h1 style=\"[^\"]*\">Spring offer</h1>", html)
    assert re.search(r"<strong>offer</strong>", html)
    assert re.search(r"<li style=\"[^\"]*\">one</li>", html)
    assert "Hi Tom &amp; Jerry, our" in html  # lead values escaped, as in an HTML body
    assert "**" not in html and "**" not in text
    assert "Hi Tom & Jerry, our offer is live: see it (https://shop.example/offer?ref=mail)." in text
    assert email.tracked_links == ("https://shop.example/offer?ref=mail",)
    click = re.search(r'href="(https://t\.mailbranch\.example/c/[^"]+)"', html).group(1)
    claim = tokens.read_click(urlsplit(click).path.rsplit("/", 1)[1])
    assert claim.url == "https://shop.example/offer?ref=mail"


def test_pixel_unsubscribe_and_headers_still_work_on_the_designed_email(tokens):
    _, parsed, text, html = send(tokens, EmailContent("Hi", "Hello", format="markdown", theme=THEME))
    pixel = re.search(r'<img src="([^"]+)" width="1" height="1"', html).group(1)
    assert tokens.read_open(pixel[len(PUBLIC) + 3:-4]).send_id == 41
    assert html.index(pixel) < html.index("</body>")
    unsubscribe = parsed["List-Unsubscribe"].strip().strip("<>")
    assert unsubscribe.startswith(PUBLIC + "/u/") and parsed["List-Unsubscribe-Post"]
    # The unsubscribe line sits in the footer, inside the 600 px column.
    footer = html[html.index('class="mb-footer"'):]
    assert unsubscribe in footer.split("</table>")[0]
    assert f"Unsubscribe: {unsubscribe}" in text
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]


def test_a_loop_inside_a_table_keeps_working_when_the_inliner_cannot_keep_it(tokens):
    body = "<table><tr>{% for item in ['a', 'b'] %}<td>{{ item }}{{ first_name }}</td>{% endfor %}</tr></table>"
    _, _, _, html = send(tokens, EmailContent("Hi", body, theme=THEME), {"first_name": "!"})
    assert "<td>a!</td><td>b!</td>" in html
    assert "mb-container" in html


def test_a_whole_html_document_is_sent_as_its_author_designed_it(tokens):
    body = "<html><body><p>Mine</p></body></html>"
    _, _, _, html = send(tokens, EmailContent("Hi", body, theme=THEME))
    assert html.startswith("<html><body><p>Mine</p>") and "mb-container" not in html


def test_render_content_fills_the_body_as_written_markdown_included():
    rendered = render_content(EmailContent("x", "Hi **{{ n }}**", format="markdown"), {"n": "<b>"}, "a@b.c")
    assert rendered.html == "<p>Hi <strong>&lt;b&gt;</strong></p>"


def test_odd_theme_values_fall_back_to_the_defaults():
    theme = Theme.from_flow({"logo": "javascript:alert(1)", "color": "red; background: url(x)",
                             "footer": 7, "address": " 1 Main St ", "future": "kept by the file only"})
    assert theme == Theme(address="1 Main St")
    assert Theme.from_flow("not an object") == Theme()
    assert Theme(color="#123456", address="x").as_json() == {"color": "#123456", "address": "x"}


def test_the_sample_campaign_sends_a_designed_markdown_email():
    flow = load_flow(ROOT / "resources" / "flows" / "sample.json")
    content = email_content(flow.node("e1"), flow)
    assert content.format == "markdown" and content.theme.address
    rendered = preview_email(content, {"first_name": "Ana"}, "ana@example.com")
    assert rendered.subject == "Hi Ana, our spring offer"
    assert "<strong>spring offer</strong>" in rendered.html
    assert content.theme.color in rendered.html and content.theme.address in rendered.html
    assert rendered.errors == []
    # The other emails are HTML, as before, in the same theme.
    assert email_content(flow.node("e2"), flow).format == "html"
    assert "SPRING10" in preview_email(email_content(flow.node("e2"), flow), {}, "a@b.c").html


def test_the_text_part_of_a_markdown_body_reads_like_the_markdown():
    body = "Hi {{ first_name }},\n\nOur offer\nis live.\n\nHappy spring,  \nThe team\n"
    rendered = preview_email(EmailContent("x", body, format="markdown", theme=THEME), {"first_name": "Ann"}, "a@b.c")
    assert rendered.text == ("Hi Ann,\n\nOur offer is live.\n\nHappy spring,\nThe team\n\n"
                             "You shop with us.\nSpring Shop, 12 Market Street, Springfield, IL 62701")
