"""Built-in free-mail and consumer ISP domains: never matched to a client by domain, never a company guess.

Config extends this list (``[linker] free_mail_domains``). Kept as data, grouped by region for review.
"""

from __future__ import annotations

FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        # global
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.co.uk", "hotmail.fr", "hotmail.de",
        "hotmail.it", "hotmail.es", "live.com", "live.co.uk", "live.fr", "live.de", "live.it", "msn.com",
        "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "yahoo.it", "yahoo.es", "ymail.com", "rocketmail.com",
        "aol.com", "aim.com", "icloud.com", "me.com", "mac.com", "proton.me", "protonmail.com", "protonmail.ch",
        "pm.me", "tutanota.com", "tuta.io", "zoho.com", "zohomail.com", "mail.com", "email.com", "gmx.com",
        "gmx.net", "fastmail.com", "fastmail.fm", "hey.com", "yandex.com", "yandex.ru", "ya.ru", "mail.ru",
        "inbox.ru", "list.ru", "bk.ru", "rambler.ru", "qq.com", "163.com", "126.com", "sina.com", "naver.com",
        "hanmail.net", "rediffmail.com", "yahoo.co.jp", "outlook.jp", "ezweb.ne.jp", "docomo.ne.jp",
        # Poland
        "wp.pl", "o2.pl", "onet.pl", "onet.eu", "op.pl", "interia.pl", "interia.eu", "poczta.fm", "gazeta.pl",
        "tlen.pl", "vp.pl", "go2.pl", "buziaczek.pl", "spoko.pl", "autograf.pl", "poczta.onet.pl",
        # Czechia and Slovakia
        "seznam.cz", "email.cz", "post.cz", "centrum.cz", "atlas.cz", "volny.cz", "tiscali.cz", "quick.cz",
        "azet.sk", "centrum.sk", "zoznam.sk", "post.sk", "pobox.sk", "atlas.sk",
        # Romania
        "yahoo.ro", "gmail.ro", "rdslink.ro", "clicknet.ro", "personal.ro",
        # Germany, Austria, Switzerland
        "gmx.de", "gmx.at", "gmx.ch", "web.de", "t-online.de", "freenet.de", "arcor.de", "posteo.de",
        "mailbox.org", "online.de", "bluewin.ch", "aon.at",
        # France, Benelux
        "orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr", "neuf.fr", "bbox.fr", "skynet.be",
        "telenet.be", "ziggo.nl", "kpnmail.nl", "planet.nl", "home.nl",
        # Southern Europe
        "libero.it", "virgilio.it", "tiscali.it", "alice.it", "tin.it", "email.it", "sapo.pt", "iol.pt",
        "terra.es", "telefonica.net", "uol.com.br", "bol.com.br", "terra.com.br", "ig.com.br",
        # Nordics, Hungary, Croatia, Turkey
        "telia.com", "online.no", "bredband.net", "jubii.dk", "suomi24.fi", "freemail.hu", "citromail.hu",
        "t-com.hr", "net.hr", "yandex.com.tr", "mynet.com",
    }
)  # fmt: skip
