"""The Autodiscover answer's <Protocol> elements, made by the renderer for the built-in template, are the text the
template's own loop over ``protocols`` made: a site template that loops over them (the built-in template as it was)
gives the same bytes, for users' answers and domains' answers, with values that need escaping."""
from __future__ import annotations

from conftest import BASE

from generator import load_inventory
from generator.formats.registry import named
from generator.formats.render import autodiscover
from generator.formats.subjects import DomainDevices
from generator.model import Server

# The built-in template as it was, each <Protocol> written by a loop over the ``protocols`` dicts.
LOOP_TEMPLATE = """\
<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
{% if user %}
    <User>
      <DisplayName>{{ user.name }}</DisplayName>
      <AutoDiscoverSMTPAddress>{{ user.email }}</AutoDiscoverSMTPAddress>
    </User>
{% endif %}
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
{% for protocol in protocols %}
      <Protocol>
        <Type>{{ protocol.type }}</Type>
        <Server>{{ protocol.host }}</Server>
        <Port>{{ protocol.port }}</Port>
        <DomainRequired>off</DomainRequired>
{% if protocol.login is not none %}
        <LoginName>{{ protocol.login }}</LoginName>
{% endif %}
        <SPA>{{ protocol.spa }}</SPA>
        <SSL>{{ protocol.ssl }}</SSL>
        <Encryption>{{ protocol.encryption }}</Encryption>
        <AuthRequired>on</AuthRequired>
{% if protocol.smtp %}
        <UsePOPAuth>on</UsePOPAuth>
        <SMTPLast>off</SMTPLast>
{% endif %}
      </Protocol>
{% endfor %}
    </Account>
  </Response>
</Autodiscover>
"""

INVENTORY = BASE.replace("smtp: {host: smtp.example.com}", "smtp: {host: smtp.example.com}\n"
                         "groups:\n  sales: {servers: {smtp: {host: smtp2.example.com, port: 587, security: starttls},"
                         " imap: {host: imap2.example.com, auth: ntlm}}}") + """\
users:
  - {email: anna@example.com, name: "Anna O'Brien & <Söhne> \\"AG\\"", login: "anna&co", devices: [desktop, laptop]}
  - {email: ben@example.org, name: Ben, groups: [sales], devices: [desktop, laptop]}
  - {email: cara@example.com, name: Cara, login: "c<a>ra", groups: [sales], devices: [laptop]}
"""


def _files(folder, site: bool) -> dict[str, bytes]:
    text = INVENTORY + ("templates_dir: site\n" if site else "")
    (folder / "inventory.yaml").write_text(text, encoding="utf-8")
    inventory = load_inventory(folder)
    assert bool(inventory.site.templates_dir) is site
    device_answer, domain_answer = named("outlook-autodiscover"), named("autodiscover")
    files = {f"{d.user.email}/{d.name}": device_answer.render(inventory.site, d) for d in inventory.devices}
    for domain in ("example.com", "example.org"):
        devices = tuple(d for d in inventory.devices if d.user.domain == domain)
        files[domain] = domain_answer.render(inventory.site, DomainDevices(domain, devices))
    return files


def test_the_prepared_elements_are_what_the_loop_over_protocols_wrote(tmp_path):
    (tmp_path / "site/outlook-autodiscover").mkdir(parents=True)
    (tmp_path / "site/outlook-autodiscover/autodiscover.xml.j2").write_text(LOOP_TEMPLATE, encoding="utf-8")
    built_in, looped = _files(tmp_path, site=False), _files(tmp_path, site=True)
    assert len(built_in) == 7 and built_in == looped
    anna = built_in["anna@example.com/desktop"]
    assert b"<DisplayName>Anna O&#39;Brien &amp; &lt;S\xc3\xb6hne&gt; &#34;AG&#34;</DisplayName>" in anna
    assert anna.count(b"<LoginName>anna&amp;co</LoginName>") == 2
    assert b"<LoginName>c&lt;a&gt;ra</LoginName>" in built_in["cara@example.com/laptop"]
    assert b"<SPA>on</SPA>" in built_in["ben@example.org/laptop"] and b"<LoginName>" not in built_in["example.org"]
    assert built_in["example.com"].count(b"<Protocol>") == 3


def test_a_servers_elements_are_made_once_and_told_apart_by_each_field():
    autodiscover._SERVER_ELEMENTS.clear()
    imap = Server("imap", "imap.example.com", 993, "ssl", "password")
    both = autodiscover.protocol_elements([imap, Server("smtp", "smtp.example.com", 465, "ssl", "password")], "a")
    assert len(autodiscover._SERVER_ELEMENTS) == 2 and both.count("<LoginName>a</LoginName>") == 2
    alone = autodiscover.protocol_elements([Server("imap", "imap.example.com", 993, "ssl", "password")], None)
    assert len(autodiscover._SERVER_ELEMENTS) == 2 and alone == both[:both.index("<Protocol>", 10) - 6].replace(
        "        <LoginName>a</LoginName>\n", "")
    others = [Server("pop3", "imap.example.com", 993, "ssl", "password"),
              Server("imap", "imap2.example.com", 993, "ssl", "password"),
              Server("imap", "imap.example.com", 143, "ssl", "password"),
              Server("imap", "imap.example.com", 993, "starttls", "password"),
              Server("imap", "imap.example.com", 993, "ssl", "ntlm")]
    texts = {autodiscover.protocol_elements([server], None) for server in others}
    assert len(texts) == 5 and alone not in texts and len(autodiscover._SERVER_ELEMENTS) == 7
