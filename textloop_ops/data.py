"""The data sets shipped in ``data/``: where each file is, and what each command needs.

Standard library only, so ``make`` can run the check with any Python 3 before it builds or
deploys anything: a clone missing a file stops with one line naming it, not with a traceback
minutes into a deployment. ``data/README.md`` gives each set's source and licence.

    python3 -m textloop_ops.data demo     # exit 1 with "data file missing: ..." if one is
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "data"

AG_NEWS = DATA_DIR / "ag_news" / "train.csv"
AG_NEWS_SAMPLE_BATCH = DATA_DIR / "ag_news" / "sample-batch-feedback.json"
JIGSAW = DATA_DIR / "jigsaw_toxic" / "train.csv"
NER = DATA_DIR / "aws_service_ner"
NER_DOCUMENTS = NER / "comprehend" / "train.csv"
NER_ANNOTATIONS = NER / "comprehend" / "annotations.csv"
NER_MANIFEST = NER / "groundtruth" / "output.manifest"

# What each entry point reads; checked before it starts.
NEEDED = {
    "demo": (AG_NEWS, NER_MANIFEST),
    "test": (AG_NEWS, AG_NEWS_SAMPLE_BATCH, JIGSAW, NER_DOCUMENTS, NER_ANNOTATIONS, NER_MANIFEST),
    "bench": (AG_NEWS, JIGSAW, NER_DOCUMENTS, NER_ANNOTATIONS),
}


class MissingData(FileNotFoundError):
    """A data file the command needs is not in the clone; the message is one line."""


def require(*paths: Path) -> None:
    """Raise ``MissingData`` naming the first file of ``paths`` that is not there."""
    for path in paths:
        if not path.is_file():
            shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
            raise MissingData(
                f"data file missing: {shown} (the repository ships it; see data/README.md)"
            )


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in NEEDED:
        print(f"usage: python3 -m textloop_ops.data {{{'|'.join(NEEDED)}}}", file=sys.stderr)
        return 2
    try:
        require(*NEEDED[argv[0]])
    except MissingData as exc:
        print(f"{argv[0]}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
