"""The site's security policy: one Content-Security-Policy, used in two places.

Every page carries it in a `<meta http-equiv>` tag (works on any host, even file://), and the
`_headers` file repeats it as a real HTTP header, with the usual hardening headers, for hosts that
read that file (Netlify, Cloudflare Pages). The policy allows only the site's own files: no inline
scripts or styles, no third-party origins. `<script type="application/ld+json">` blocks are data,
not scripts, so browsers do not apply script-src to them and JSON-LD keeps working.
"""

from __future__ import annotations

CSP_DIRECTIVES: tuple[tuple[str, str], ...] = (
    ("default-src", "'self'"),
    # 'wasm-unsafe-eval' lets the site's own search index (WebAssembly) run; it does not allow eval().
    ("script-src", "'self' 'wasm-unsafe-eval'"),
    ("style-src", "'self'"),
    ("img-src", "'self' data:"),
    ("font-src", "'self'"),
    ("connect-src", "'self'"),
    ("object-src", "'none'"),
    ("base-uri", "'self'"),
    ("form-action", "'self'"),
    ("frame-ancestors", "'none'"),
)
HEADER_ONLY = {"frame-ancestors"}
"""Directives browsers ignore (with a console warning) when the policy comes from a <meta> tag."""


def csp(*, meta: bool = False) -> str:
    """The policy as one header value; `meta=True` leaves out what a <meta> tag cannot carry."""
    return "; ".join(f"{name} {value}" for name, value in CSP_DIRECTIVES if not (meta and name in HEADER_ONLY))


SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
"""Sent with every file. Strict-Transport-Security is left to the host: it applies to the whole
domain, and Netlify and Cloudflare already send it for HTTPS sites."""


KEYED_FOLDER = "data"
"""Where the build puts files named by a hash of only part of their bytes (the lookup data: its
codes, aliases and URLs, not its titles), so the same name may hold new bytes: hosts that read
`_headers` are told to check them on every use, where `assets/` is cached for good."""


def headers_file() -> bytes:
    """`_headers` in the Netlify / Cloudflare Pages format: a path pattern, then indented headers."""
    lines = ["/*", f"  Content-Security-Policy: {csp()}"]
    lines += [f"  {name}: {value}" for name, value in SECURITY_HEADERS]
    # Asset names carry a hash of their bytes, so they can be cached for good.
    lines += ["", "/assets/*", "  Cache-Control: public, max-age=31536000, immutable"]
    lines += ["", f"/{KEYED_FOLDER}/*", "  Cache-Control: no-cache"]
    return ("\n".join(lines) + "\n").encode("utf-8")
