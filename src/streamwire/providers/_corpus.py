"""The demo model's built-in text: plain sentences the demo provider composes answers from.

Grouped by topic so that one answer reads as one train of thought. Nothing here is generated at
run time; the demo picks and orders these by a hash of the prompt.
"""

from __future__ import annotations

from typing import Final

OPENINGS: Final = (
    "Good question about {topic}.",
    "Here is how I would think about {topic}.",
    "Let me walk through {topic} step by step.",
    "Short answer on {topic}: it depends, but there is a clear default.",
    "You asked about {topic}, so here is a practical overview.",
    "There are a few angles to {topic} worth separating.",
)

TOPICS: Final[tuple[tuple[str, ...], ...]] = (
    (
        "Streaming lets a reader start on the first sentence while the rest is still being "
        "written.",
        "The first token usually matters more than the last one for how fast an answer feels.",
        "A steady trickle of words is easier to follow than a wall of text that appears at once.",
        "Most of the waiting in a chat happens before the first word, not between words.",
        "Showing partial output early also lets people stop an answer that went the wrong way.",
    ),
    (
        "Server-Sent Events keep one HTTP response open and send small text events down it.",
        "Each event ends with a blank line, so a reader can split the stream without guessing.",
        "Proxies sometimes buffer responses, which is why streaming servers disable buffering.",
        "A heartbeat comment every few seconds keeps idle connections from being cut.",
        "When the connection drops, the browser reconnects and can say which event it saw last.",
    ),
    (
        "Good plans start with the outcome you want and work backwards to the first step.",
        "Write the smallest version that works end to end before polishing any single part.",
        "Keep a short list of open questions and close one before opening two more.",
        "Deadlines are easier to keep when each task fits comfortably into a single afternoon.",
        "Review what went well as carefully as what went wrong; both are worth repeating.",
    ),
    (
        "Clear writing puts the main point in the first sentence and the details after it.",
        "Short paragraphs help readers on small screens keep their place.",
        "Concrete examples do more work than abstract adjectives.",
        "Cutting a draft by a third usually makes it better, not thinner.",
        "Read the text aloud once; awkward sentences are much easier to hear than to see.",
    ),
    (
        "Tests that name a behaviour are easier to trust than tests that name a function.",
        "A failing test should say what was expected, what happened and where.",
        "Fast tests get run often, and tests that get run often catch bugs early.",
        "Real servers in tests find problems that in-process fakes politely hide.",
        "Every wait in a test needs a timeout, or one bad day turns into a hung build.",
    ),
    (
        "Cancelling work nobody is waiting for saves money as well as time.",
        "Cleanup code must run even when the task around it is being cancelled.",
        "Closing the upstream connection is the only reliable way to tell a model to stop.",
        "A clear error message names what failed and whether trying again could help.",
        "Secrets belong in logs as little as in error messages: redact them at the edge.",
    ),
)

LIST_INTROS: Final = (
    "A few things to keep in mind:",
    "In practice, this comes down to:",
    "Here is a short checklist:",
    "The main points are:",
)

CLOSINGS: Final = (
    "I hope that helps; ask me to go deeper on any part.",
    "That should be enough to get started.",
    "Tell me more about your situation and I can be more specific.",
    "If anything is unclear, point at it and I will explain it differently.",
)

REASONING: Final = (
    "The question is about {topic}, so I should start with the main idea.",
    "A short list will make the key points easier to scan.",
    "I should keep the answer concrete and end with a suggestion.",
    "Before answering, check whether the user needs an overview or a specific step.",
    "An example would make this clearer than a definition.",
)

CITIES: Final = ("Lisbon", "Oslo", "Nairobi", "Montreal", "Kyoto", "Valparaiso", "Tbilisi")
CONDITIONS: Final = ("sunny", "partly cloudy", "light rain", "overcast", "windy", "clear")

DRAFT_SUBJECTS: Final = (
    "Project update",
    "Meeting follow-up",
    "Next steps for the launch",
    "Thanks for your help",
    "Schedule change",
)

DRAFT_BULLETS: Final = (
    "Share the updated timeline with the team by Friday",
    "Confirm who owns the open review comments",
    "Book thirty minutes to go over the results",
    "Send the final numbers once they are checked",
    "Flag any blockers early so we can plan around them",
    "Collect feedback from the first users",
)
