"""The retrieval benchmark's corpus: long multi-session chats between two friends, with questions citing turns.

Generated here, deterministically (seeded), from hand-written templates: no public memory benchmark's data. Each
conversation has several dated sessions of small talk in which each friend mentions facts about their life (a pet,
a class, a trip, a job, a book, races run, a gift, a relative's move, something baked, volunteering). A fact's
evidence is the turn that states it (two turns in different sessions for the multi-hop ones). Questions name the
friend, paraphrase the evidence with other words and inflections, and some name the month; small talk reuses the
facts' vocabulary (distractors), so exact words alone do not find the evidence.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

SEED: Final = 20261203
CONVERSATIONS: Final = 16
FACTS_PER_PERSON: Final = 8
DISTRACTOR_SHARE: Final = 0.25
NAMES: Final = ("Caroline", "Melanie", "Jon", "Gina", "Priya", "Tomas", "Aisha", "Daniel", "Ruth", "Kenji", "Lena",
                "Omar", "Sofia", "Marcus", "Ines", "Theo")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Turn:
    key: str
    session: int
    speaker: str
    ts: int
    text: str


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    evidence: tuple[str, ...]
    kind: str  # single-hop, multi-hop, temporal, paraphrase


@dataclass(frozen=True, slots=True)
class Conversation:
    index: int
    speakers: tuple[str, str]
    turns: tuple[Turn, ...]
    questions: tuple[Question, ...]


@dataclass(frozen=True, slots=True)
class _Family:
    kind: str
    slots: dict[str, tuple[str, ...]]
    evidence: tuple[tuple[str, ...], ...]  # the variants of each evidence turn (one turn per session)
    questions: tuple[str, ...]
    distractors: tuple[str, ...]
    prompt: tuple[str, ...] = ()  # the other friend's turn just before the (first) evidence


_FAMILIES: Final = (
    _Family("paraphrase", {"pet": ("puppy", "kitten", "rabbit", "parrot"), "pname": ("Luna", "Biscuit", "Max", "Pip")},
            (("We finally adopted a little {pet}! We're calling her {pname}.",
              "Big news, we brought home a {pet} from the shelter, her name is {pname}."),),
            ("What is the name of the {pet} {P} adopted?", "What did {P} name the new {pet}?",
             "What animal did {P} bring home from the shelter?"),
            ("My neighbour's {pet} kept me up all night.", "I keep thinking about adopting a {pet} someday.",
             "Do you think a {pet} would be too much work?")),
    _Family("single-hop", {"hobby": ("pottery", "salsa dancing", "watercolour painting", "guitar", "swimming")},
            (("I signed up for {hobby} lessons at the community centre, my first class is on Tuesday.",
              "I've started {hobby} classes on Tuesday evenings, the lessons are so relaxing."),),
            ("What class is {P} taking?", "Which lessons did {P} sign up for?",
             "What is {P} learning at the community centre?"),
            ("I always wanted to try {hobby} but never found the time.", "The community centre has new classes.",
             "My cousin teaches {hobby}, she loves it.")),
    _Family("temporal", {"city": ("Lisbon", "Kyoto", "Montreal", "Edinburgh", "Cape Town", "Oaxaca")},
            (("I just got back from {city} yesterday, the food was incredible.",
              "Landed home from {city} last night, what a trip!"),),
            ("When did {P} travel to {city}?", "When did {P} come back from the trip to {city}?",
             "When did {P} return from {city}?"),
            ("Have you ever been to {city}?", "I saw a documentary about {city} last night.",
             "A friend of mine is planning a trip, maybe somewhere like {city}.")),
    _Family("paraphrase", {"job": ("nurse", "data analyst", "pastry chef", "teacher"),
                           "company": ("Brightside", "Northwind", "Maple Health", "Juniper Labs")},
            (("Guess what, I got the {job} position at {company}! I start on Monday.",
              "{company} offered me the {job} role, I accepted it this morning."),),
            ("What position did {P} get?", "Which role was {P} offered?", "Which company hired {P}?"),
            ("Work has been crazy, my boss keeps adding projects.", "Are you still looking for a new job?",
             "I had an interview last week but I don't think I got it.")),
    _Family("temporal", {"book": ("The Night Circus", "Educated", "Station Eleven", "Circe", "Dune")},
            (("I'm halfway through {book}, I've been reading it every night.",
              "Currently reading {book} and loving it."),),
            ("What was {P} reading in {when}?", "What book did {P} read in {when}?",
             "Which novel was {P} into in {when}?"),
            ("I haven't read a good book in ages.", "My book club picked something boring again.",
             "Reading before bed helps me sleep.")),
    _Family("multi-hop", {"n1": ("5", "10"), "n2": ("half marathon", "15k", "trail race")},
            (("I ran my first {n1}k race on Sunday, I'm exhausted but proud.",
              "Did my first ever {n1}k run this weekend, finished it!"),
             ("I finished a {n2} yesterday, my second race this year.", "Just completed a {n2}, race number two!")),
            ("How many races has {P} run so far?", "Which races did {P} finish?", "How many races has {P} completed?"),
            ("I should start running again.", "My knees hurt after the gym.", "There was a race downtown, "
             "the roads were closed all morning.")),
    _Family("single-hop", {"rel": ("mom", "sister", "grandma", "aunt"),
                           "gift": ("A pottery wheel", "Concert tickets", "A silk scarf", "A telescope")},
            (("{gift}! She absolutely loved it.", "{gift}, she was so surprised."),),
            ("What did {P} give to the {rel} for her birthday?", "What birthday present did {P} buy for the {rel}?",
             "What gift did {P} surprise the {rel} with?"),
            ("My birthday is coming up soon.", "I never know what gifts to buy people.",
             "We had cake at work for someone's birthday."),
            prompt=("So what did you end up getting your {rel} for her birthday?",
                    "Did you find something for your {rel}'s birthday?")),
    _Family("single-hop", {"rel": ("brother", "cousin", "best friend"), "city": ("Denver", "Austin", "Seattle")},
            (("My {rel} is moving to {city} next month, I'll miss him.",
              "My {rel} just told me he's relocating to {city}."),),
            ("Who in {P}'s family is moving to {city}?", "Where is {P}'s {rel} moving?",
             "Which relative of {P} is relocating to {city}?"),
            ("Moving is so stressful, all those boxes.", "I've heard {city} is expensive now.",
             "We might move to a bigger apartment next year.")),
    _Family("paraphrase", {"food": ("banana bread", "a lemon tart", "cinnamon rolls", "sourdough"),
                           "event": ("bake sale", "office party", "potluck")},
            (("I baked {food} for the {event}, it was gone in minutes.",
              "Made {food} for the {event} and everybody asked for the recipe."),),
            ("What did {P} bake for the {event}?", "What did {P} make for the {event}?",
             "What treat did {P} bring to the {event}?"),
            ("I'm terrible at baking, everything burns.", "There's a {event} at school next week.",
             "I ate way too much bread this weekend.")),
    _Family("multi-hop", {"place": ("animal shelter", "food bank", "library"), "who": ("kids", "seniors")},
            (("I volunteered at the {place} on Saturday, it felt really meaningful.",
              "Spent Saturday volunteering at the {place}, I loved it."),
             ("Went back to the {place} again, this time helping the {who}.",
              "Another shift at the {place}, I helped the {who} all afternoon.")),
            ("Where has {P} been volunteering, and who did {P} help?", "What volunteer work has {P} done?",
             "Where did {P} help out on Saturdays?"),
            ("I should volunteer more, honestly.", "The {place} near me is closing early this month.",
             "Helping people makes me feel good.")),
)  # fmt: skip
_SMALL_TALK: Final = (
    "How have you been?", "That sounds amazing, I'm so happy for you!", "Work has been really busy this week.",
    "The weather has been awful, it rained all weekend.", "What are you up to this weekend?", "Haha, totally.",
    "I've been so tired lately, not sleeping well.", "Did you watch the game last night?", "That's so cool!",
    "My family is doing well, thanks for asking.", "I made pasta for dinner again.", "We should meet up soon.",
    "I'm trying to spend less time on my phone.", "Honestly I just need a vacation.", "Tell me more!",
    "I went for a long walk by the river this morning.", "My week was pretty quiet, nothing special.",
    "I'm thinking about learning something new this year.", "That's a great idea, you should do it.",
    "Ugh, Mondays.", "I had the weirdest dream last night.", "We finally fixed the leaky sink.",
    "I can't believe how fast this year is going.", "How's your family doing?", "Same here, honestly.",
)  # fmt: skip


_GREETINGS: Final = ("Hey {name}! How's it going?", "Hi {name}, long time no talk!", "Good to hear from you, {name}!",
                      "{name}! I was just thinking about you.", "Morning {name}, how was your week?")  # fmt: skip
_Said = tuple[str, str, int]  # speaker, text, the fact it is evidence of (-1: none)


def _fact_turns(
    rng: random.Random, fam: _Family, fact: int, people: tuple[str, str], sessions: list[int]
) -> tuple[dict[int, list[_Said]], dict[str, str]]:
    owner, other = people
    slots = {name: rng.choice(pool) for name, pool in fam.slots.items()}
    placed: dict[int, list[_Said]] = {}
    for hop, session in enumerate(sessions):
        turns = [(other, rng.choice(fam.prompt).format(**slots), -1)] if fam.prompt and hop == 0 else []
        placed[session] = [*turns, (owner, rng.choice(fam.evidence[hop]).format(**slots), fact)]
    return placed, slots


def _distractor(rng: random.Random) -> str:
    fam = rng.choice(_FAMILIES)
    return rng.choice(fam.distractors).format(**{name: rng.choice(pool) for name, pool in fam.slots.items()})


def _lay_out(
    rng: random.Random,
    plan: dict[int, list[list[_Said]]],
    starts: list[datetime],
    speakers: tuple[str, str],
    per_session: int,
) -> tuple[list[Turn], dict[int, list[str]]]:
    turns: list[Turn] = []
    evidence: dict[int, list[str]] = {}
    for s, start in enumerate(starts):
        blocks: list[list[_Said]] = [[] for _ in range(per_session)]
        for fact in plan[s]:
            blocks[rng.randrange(per_session)].extend(fact)
        first, second = speakers if s % 2 == 0 else speakers[::-1]
        said: list[_Said] = [(first, rng.choice(_GREETINGS).format(name=second), -1),
                             (second, rng.choice(_GREETINGS).format(name=first), -1)]  # fmt: skip
        for i, block in enumerate(blocks):
            small = _distractor(rng) if rng.random() < DISTRACTOR_SHARE else rng.choice(_SMALL_TALK)
            said += [(speakers[i % 2], small, -1), *block]
        for n, (who, text, fact_id) in enumerate(said):
            turns.append(Turn(f"D{s + 1}:{n + 1}", s, who, int((start + timedelta(minutes=2 * n)).timestamp()), text))
            evidence.setdefault(fact_id, []).append(turns[-1].key)
    return turns, evidence


def conversation(index: int, sessions: int = 10, turns_per_session: int = 36) -> Conversation:
    """One conversation, the same for the same index (its own seed)."""
    rng = random.Random(SEED + index)  # noqa: S311 - a reproducible corpus, no secret
    people = tuple(rng.sample(NAMES, 2))
    base = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(days=rng.randint(0, 120))
    starts = [base + timedelta(days=s * 12 + rng.randint(0, 6), hours=rng.randint(8, 20)) for s in range(sessions)]
    plan: dict[int, list[list[_Said]]] = {s: [] for s in range(sessions)}
    facts: list[tuple[_Family, str, dict[str, str], list[int]]] = []
    for owner, other in (people, people[::-1]):
        for fam in rng.sample(_FAMILIES, FACTS_PER_PERSON):
            where = sorted(rng.sample(range(sessions), len(fam.evidence)))
            placed, slots = _fact_turns(rng, fam, len(facts), (owner, other), where)
            for s, said in placed.items():
                plan[s].append(said)
            facts.append((fam, owner, slots, where))
    turns, evidence = _lay_out(rng, plan, starts, (people[0], people[1]), turns_per_session)
    questions = []
    for i, (fam, owner, slots, where) in enumerate(facts):
        when = starts[where[0]].strftime("%B %Y")
        text = rng.choice(fam.questions).format(P=owner, when=when, **slots)
        questions.append(Question(text, tuple(evidence[i]), fam.kind))
    return Conversation(index, (people[0], people[1]), tuple(turns), tuple(questions))


def conversations(count: int = CONVERSATIONS) -> list[Conversation]:
    """The shipped corpus: conversations 0, 2, 4, ... tune the ranker, 1, 3, 5, ... are held out."""
    return [conversation(i) for i in range(count)]
