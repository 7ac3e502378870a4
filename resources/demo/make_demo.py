"""Write ``support_messages.csv``: a demo data set of short customer-support messages.

The messages are built from hand-written templates and slot values with a fixed seed, so
running this script again gives the same file. Intents are a little imbalanced (as real
support queues are) and a share of the messages are deliberately ambiguous between two
intents, so a new user sees what hard cases look like while labelling.

Run: ``python resources/demo/make_demo.py`` (writes the CSV next to this script).
"""
from __future__ import annotations

import csv
import random
from pathlib import Path

SEED = 20240611
OUT = Path(__file__).with_name("support_messages.csv")

#: Target number of messages per intent (imbalanced on purpose).
TARGETS = {
    "billing": 78,
    "delivery": 70,
    "refund": 58,
    "account": 52,
    "technical": 46,
    "feedback": 30,
}
N_AMBIGUOUS = 36

SLOTS = {
    "product": [
        "blender", "headphones", "running shoes", "desk lamp", "phone case", "coffee grinder",
        "backpack", "yoga mat", "kettle", "monitor stand", "winter jacket", "air fryer",
        "keyboard", "water bottle", "bluetooth speaker", "office chair",
    ],
    "amount": ["$12.99", "$49", "$7.50", "$129.00", "€35", "£20", "$89.95", "$240", "$15"],
    "days": ["two days", "three days", "a week", "10 days", "over two weeks", "five days"],
    "order": ["#48213", "#77102", "#50931", "#66240", "#91877", "#30418", "#12095", "#84412"],
    "carrier": ["the courier", "UPS", "DHL", "the post office", "FedEx", "the delivery driver"],
    "device": ["iPhone", "Android phone", "laptop", "tablet", "work computer", "Chromebook"],
    "browser": ["Chrome", "Firefox", "Safari", "Edge"],
    "plan": ["premium plan", "family plan", "monthly subscription", "annual plan", "pro tier"],
    "month": ["March", "last month", "this month", "April", "October", "the last two months"],
}

TEMPLATES = {
    "billing": [
        "I was charged twice for order {order}, can you fix this?",
        "Why did my card get billed {amount} when the price said less?",
        "There's a charge of {amount} on my statement I don't recognise",
        "My invoice for {month} shows the wrong amount",
        "Can I change the card you bill for my {plan}?",
        "You charged me for the {plan} after I downgraded",
        "I need a VAT invoice for my purchase in {month}",
        "Payment keeps getting declined at checkout even though my card works elsewhere",
        "how do I update my billing address",
        "The discount code wasn't applied and I paid full price, {amount} instead of less",
        "Is there a way to pay by bank transfer instead of card?",
        "I got billed {amount} for shipping, I thought shipping was free over $50",
        "Please send me a receipt for order {order}",
        "my subscription renewed and charged {amount} without any reminder email",
        "Why is there a pending authorisation of {amount} on my account?",
        "Can you split the payment for order {order} across two cards?",
        "I was charged in dollars but I live in the UK, can you bill in pounds?",
        "The price went up on my {plan} and nobody told me",
        "double charge again this month?? second time now",
        "Do you offer monthly billing instead of annual?",
    ],
    "delivery": [
        "Where is my order {order}? It's been {days}",
        "Tracking hasn't updated in {days}",
        "{carrier} says delivered but there's nothing at my door",
        "Can I change the delivery address for order {order}?",
        "My {product} still hasn't arrived",
        "The parcel was left with a neighbour I don't know",
        "Do you ship to Canada?",
        "How long does express delivery usually take?",
        "order {order} shows 'in transit' for {days}, is it lost?",
        "The box arrived crushed but the {product} inside seems fine",
        "Can I pick up my order from a store instead?",
        "{carrier} tried to deliver while I was at work, what now",
        "I only received part of my order, the {product} is missing",
        "Is it possible to schedule delivery for Saturday?",
        "my tracking number doesn't work on the courier's website",
        "When will the {product} be back in stock and shipped?",
        "The estimated delivery date keeps moving later",
        "package went to my old address, help",
        "Can you hold my parcel at the depot until Monday?",
        "Why was my order {order} split into two shipments?",
    ],
    "refund": [
        "I'd like to return the {product}, it doesn't fit",
        "How do I get a refund for order {order}?",
        "I sent the {product} back {days} ago and still no refund",
        "The {product} stopped working after a week, I want my money back",
        "Can I exchange the {product} for a different colour?",
        "Is the return shipping free?",
        "I received the wrong {product}, I'd like to send it back",
        "refund still not showing on my card after {days}",
        "What's your return policy for opened items?",
        "Please cancel order {order} and refund me",
        "You refunded {amount} but I paid more than that",
        "Can I return a gift without the receipt?",
        "the {product} arrived broken, I want a replacement or refund",
        "How long do refunds take to process?",
        "I need a return label for order {order}",
        "Returned two items but only got refunded for one",
        "Can I get store credit instead of a refund?",
        "The {product} looks nothing like the photos, returning it",
    ],
    "account": [
        "I can't log in to my account",
        "Password reset email never arrives",
        "How do I change the email on my account?",
        "Someone else may have accessed my account, I see orders I didn't make",
        "Please delete my account and all my data",
        "I'm locked out after too many login attempts",
        "How do I turn on two-factor authentication?",
        "I have two accounts by mistake, can you merge them?",
        "My account says it's suspended, why?",
        "can't update my phone number in profile settings",
        "I want to unsubscribe from marketing emails",
        "The verification code sent to my phone is not working",
        "How do I change my username?",
        "I forgot which email I signed up with",
        "Can I share my account with my partner?",
        "Please add my new address to my account",
    ],
    "technical": [
        "The app crashes every time I open it on my {device}",
        "The website won't load in {browser}",
        "I get an error 500 at checkout",
        "Pages are really slow on my {device} today",
        "The search bar doesn't return any results",
        "Images aren't showing on the product pages in {browser}",
        "The app logs me out every few minutes",
        "Push notifications stopped working after the update",
        "Add to cart button does nothing on my {device}",
        "The {product} firmware update failed halfway",
        "Your app won't install on my {device}",
        "I keep getting 'something went wrong' when I save my wishlist",
        "The page freezes when I try to upload a photo for my review",
        "dark mode makes the text unreadable in the app",
        "The {product} won't pair with my {device} over bluetooth",
    ],
    "feedback": [
        "Just wanted to say the support team was brilliant, thanks!",
        "The new {product} is fantastic, really happy with it",
        "Your website is confusing, I couldn't find the size guide",
        "It would be great if you offered gift wrapping",
        "Delivery was super fast, impressed",
        "Please bring back the old app design, the new one is worse",
        "Suggestion: let us filter products by rating",
        "I love the eco packaging, keep it up",
        "The {product} is good but the instructions are terrible",
        "Customer service on the phone was rude today, not happy",
        "Would love a loyalty programme for regular customers",
        "Thanks for sorting my issue so quickly yesterday",
    ],
}

#: Messages that honestly fit two intents; the first intent is the "gold" one.
AMBIGUOUS = [
    ("billing", "I was charged {amount} but my order {order} never arrived"),
    ("refund", "The {product} never arrived so I want my money back"),
    ("refund", "I returned the {product} but I was charged again for it"),
    ("account", "I can't log in to see my invoice for {month}"),
    ("technical", "The checkout page crashed but I think my card was still charged"),
    ("delivery", "My {product} arrived damaged, what are my options?"),
    ("billing", "Cancel my {plan}, I don't want to be charged again"),
    ("account", "The app keeps saying my password is wrong even after I reset it"),
    ("feedback", "Third time my parcel is late, honestly thinking of shopping elsewhere"),
    ("technical", "I can't update my card details, the page just spins"),
    ("refund", "order {order} was delivered to the wrong address and I want a refund"),
    ("delivery", "I was told I'd get free express shipping but paid for it and it's still late"),
    ("billing", "my account shows a credit of {amount} that I can't use at checkout"),
    ("feedback", "The {product} broke after a month, not impressed with the quality"),
    ("account", "I got a receipt for an order I didn't place, is my account hacked?"),
    ("technical", "Tracking link in the email gives an error page"),
    ("refund", "Can I cancel order {order}? It hasn't shipped yet"),
    ("delivery", "The {product} I exchanged hasn't been sent out yet"),
]

GREETINGS = ["", "", "", "Hi, ", "Hello, ", "Hey - ", "Hi there. ", "Good morning, ", "Hiya, "]
CLOSINGS = [
    "", "", "", "", " Thanks.", " Thank you!", " Cheers", " Please help.", " Any update?",
    " thx", " This is urgent.", " Regards, Sam",
]

#: Sign-offs that make no sense on praise or suggestions.
URGENT_CLOSINGS = {"Please help.", "Any update?", "This is urgent."}


def _fill(template: str, rng: random.Random) -> str:
    values = {key: rng.choice(options) for key, options in SLOTS.items()}
    return template.format(**values)


def _dress(text: str, rng: random.Random, calm: bool = False) -> str:
    """Add the variation real messages have: greetings, sign-offs, case, punctuation."""
    greeting = rng.choice(GREETINGS)
    first_word = text.split(" ", 1)[0].rstrip(",")
    keeps_capital = first_word in ("I", "I'm", "I'd", "I've", "I'll") or first_word.isupper()
    if greeting and text[:1].isupper() and not keeps_capital:
        text = text[0].lower() + text[1:]
    text = greeting + text
    closing = rng.choice(CLOSINGS)
    if calm and closing.strip() in URGENT_CLOSINGS:
        closing = ""
    if not text.endswith(("?", "!", ".")) and (closing or rng.random() < 0.5):
        text += rng.choice([".", ".", "?", "!", "..."]) if closing else rng.choice([".", "!", "..."])
    text += closing
    if rng.random() < 0.08:
        text = text.lower()
    if rng.random() < 0.04:
        text = text.upper()
    return text.strip()


def generate(seed: int = SEED) -> list[dict[str, str]]:
    """The demo rows (``id``, ``text``, ``intent``), shuffled, with unique texts."""
    rng = random.Random(seed)
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(intent: str, template: str) -> bool:
        text = _dress(_fill(template, rng), rng, calm=intent == "feedback")
        key = " ".join(text.lower().split())
        if key in seen:
            return False
        seen.add(key)
        rows.append((text, intent))
        return True

    for intent, target in TARGETS.items():
        templates = TEMPLATES[intent]
        made = 0
        i = 0
        while made < target:
            # Walk the templates in order first so each one appears, then at random.
            template = templates[i] if i < len(templates) else rng.choice(templates)
            i += 1
            made += add(intent, template)
    made = 0
    while made < N_AMBIGUOUS:
        intent, template = AMBIGUOUS[made % len(AMBIGUOUS)] if made < len(AMBIGUOUS) else rng.choice(AMBIGUOUS)
        made += add(intent, template)
    rng.shuffle(rows)
    return [
        {"id": f"MSG-{i:04d}", "text": text, "intent": intent}
        for i, (text, intent) in enumerate(rows, start=1)
    ]


def main() -> None:
    rows = generate()
    with open(OUT, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "text", "intent"])
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
