"""A deterministic synthetic help center of N notices, in the real content format.

The benchmark needs thousands of pages that exercise everything a real notice does: collection
sequences (`follows`), symmetric `similar` pairs, `related` notices and guides, deadlines with and
without days, FAQs, sources, tables, lists and `[[CODE]]` cross-links in the body and the FAQs.
The same N and seed always give the same bytes, so timings compare like with like.

    python bench/generate.py 4000 /tmp/site4000      # a complete project folder
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
CATEGORIES = ["collection", "changes", "proposed", "review", "filing"]
GUIDES = ["is-this-letter-real", "back-taxes-guide", "payment-plans", "penalty-relief", "identity-theft",
          "tax-court-basics"]
WORDS = ("the irs notice balance payment plan penalty interest levy lien refund return account taxpayer "
         "deadline hearing appeal office letter response documents records income wages bank transcript "
         "adjustment credit amount year period agent representative collection review identity verification "
         "date mail phone online form request relief hardship installment agreement offer compromise").split()
SECTIONS = ["Why you received it", "What it means", "Your rights and timeline", "What to do next",
            "If you ignore it"]


def code_of(i: int) -> str:
    return f"CP{1000 + i}" if i % 7 else f"Letter {5000 + i}"


def _sentence(rng: random.Random, links: list[str], plain: bool = False) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 18))]
    if plain:
        text = " ".join(words)
        return text[0].upper() + text[1:] + "."
    if rng.random() < 0.3:
        words[rng.randrange(len(words))] = f"**{rng.choice(WORDS)}**"
    if rng.random() < 0.15:
        words[rng.randrange(len(words))] = f"`Form {rng.randint(100, 9999)}`"
    if links and rng.random() < 0.25:
        target = rng.choice(links)
        words.insert(rng.randrange(len(words)), f"[[{target}]]" if rng.random() < 0.7
                     else f"[[{target}|{rng.choice(WORDS)} notice]]")
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def _paragraph(rng: random.Random, links: list[str], n: int) -> str:
    return " ".join(_sentence(rng, links) for _ in range(n))


def notice(i: int, n: int, rng: random.Random) -> str:
    code = code_of(i)
    chain_pos = i % 4  # chains of four: each notice follows the one before it in its chain
    follows = [code_of(i - 1)] if chain_pos and i > 0 else []
    similar = [code_of(i + 4)] if i % 8 == 1 and i + 4 < n else []
    others = [code_of(j) for j in rng.sample(range(n), min(n, 6)) if j != i]
    related = others[:rng.randint(2, 4)] + [rng.choice(GUIDES)]
    links = others + GUIDES[:2]
    fm = [
        "---",
        f"code: {code}",
        f"aliases: [{code.replace(' ', '')}X]" if i % 3 == 0 else "aliases: []",
        f'title: "{code}: {_sentence(rng, [], True)[:-1].title()[:60].strip()}"',
        f"summary: {_sentence(rng, [], True)[:150]}",
        f"category: {CATEGORIES[i % len(CATEGORIES)]}",
        "quick_answer: >-",
        f"  {_paragraph(rng, [], 3)}",
    ]
    if i % 2 == 0:
        fm += ["deadline:", "  days: 30", "  from: the date printed on the notice"] if i % 4 == 0 else \
              ["deadline:", "  from: the date printed on the notice"]
        fm += [f"  action: {_sentence(rng, [], True)}", f'  basis: "IRC {6000 + i % 500}(a)"']
        if i % 6 == 0:
            fm.append(f"  if_missed: {_sentence(rng, [], True)}")
    if follows:
        fm.append(f"follows: [{', '.join(follows)}]")
    if similar:
        fm.append(f"similar: [{', '.join(similar)}]")
    fm.append(f"related: [{', '.join(dict.fromkeys(related))}]")
    fm.append("faqs:")
    for q in range(rng.randint(3, 5)):
        fm += [f"  - question: {_sentence(rng, [], True)[:-1]}?", "    answer: >-", f"      {_paragraph(rng, links, 2)}"]
    fm += ["sources:", f'  - title: "IRS: Understanding your {code} notice"',
           f"    url: https://www.irs.gov/individuals/understanding-your-{code.lower().replace(' ', '-')}-notice",
           f"updated: 2026-{1 + i % 12:02d}-{1 + i % 28:02d}", "---"]
    body = []
    for s, title in enumerate(SECTIONS):
        body += [f"## {title}", "", _paragraph(rng, links, 5), ""]
        if s == 1:
            body += ["### In detail", "", _paragraph(rng, links, 4), ""]
        if s == 3:
            body += [f"{k + 1}. {_sentence(rng, links)}" for k in range(4)] + [""]
        if s == 2 and i % 5 == 0:
            body += ["| Step | Days |", "| --- | ---: |"] + [f"| {rng.choice(WORDS)} | {d} |" for d in (30, 60, 90)]
            body += [""]
        if s == 4:
            body += [f"- {_sentence(rng, links)}" for _ in range(3)] + [""]
    return "\n".join(fm) + "\n" + "\n".join(body)


def guide(gid: str, rng: random.Random, n: int) -> str:
    links = [code_of(j) for j in rng.sample(range(n), min(n, 5))]
    faqs = "".join(f"  - question: {_sentence(rng, [], True)[:-1]}?\n    answer: >-\n      {_sentence(rng, links)}\n" for _ in range(3))
    body = "\n\n".join(f"## {t}\n\n{_paragraph(rng, links, 5)}" for t in ("Overview", "Steps", "Help"))
    return (f"---\nid: {gid}\ntitle: {gid.replace('-', ' ').capitalize()}\nsummary: {_sentence(rng, [], True)[:150]}\n"
            f"related: [{', '.join(links[:3])}]\nfaqs:\n{faqs}sources:\n"
            f"  - title: IRS\n    url: https://www.irs.gov/\nupdated: 2026-01-15\n---\n{body}\n")


def generate(n: int, dest: Path, seed: int = 7) -> Path:
    """Write a complete project (site.toml, templates, static, content) with `n` notices into `dest`."""
    rng = random.Random(seed)
    if (dest / "content").exists():
        shutil.rmtree(dest / "content")
    for name in ("templates", "static"):
        if (dest / name).exists():
            shutil.rmtree(dest / name)
        shutil.copytree(PROJECT / name, dest / name)
    shutil.copy(PROJECT / "site.toml", dest / "site.toml")
    notices = dest / "content" / "notices"
    notices.mkdir(parents=True)
    (dest / "content" / "guides").mkdir()
    for i in range(n):
        slug = code_of(i).lower().replace(" ", "-")
        (notices / f"{slug}.md").write_text(notice(i, n, rng), encoding="utf-8")
    for gid in GUIDES:
        (dest / "content" / "guides" / f"{gid}.md").write_text(guide(gid, rng, n), encoding="utf-8")
    (dest / "content" / "index.md").write_text(
        "---\ntitle: IRS Notice Help Center\nsummary: Find your notice, your deadline and what to do next.\n---\n"
        "Type the notice number from the top right corner of your letter.\n", encoding="utf-8")
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int)
    ap.add_argument("dest", type=Path)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    generate(args.n, args.dest, args.seed)
    print(f"wrote {args.n} notices into {args.dest}")


if __name__ == "__main__":
    main()
