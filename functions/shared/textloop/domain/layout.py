"""The data lake's key layout: every S3 key textloop reads or writes is spelled here, and only here.

One bucket, one prefix per kind of object (Terraform's ``data_lake`` module names the same
prefixes, and each function's IAM policy is scoped to the ones it touches):

``feedback/``     feedback records in gzipped JSON Lines files, partitioned
                  ``model_type=<MT>/dt=<YYYY-MM-DD>/hour=<HH>/`` (Hive style: Glue's partition
                  projection and DuckDB read the prefix as a table); before that layout, one
                  object per record under ``model_version=<v>/dt=<YYYY-MM-DD>/``
``uploads/``      batch feedback files people drop (``uploads/feedback/<model type>/<application
                  id>/<file>``) and the errors object written beside each (``uploads/errors/``)
``reviews/``      per iteration: what it saw and selected, the review batches (task, answers,
                  expiry), the approval request and answer; ``reviews/index/`` finds a batch's
                  iteration from the batch id alone
``annotations/``  versions of the annotation pool and the current version per model type, and
                  per iteration the answers its merge added (gzipped JSON Lines, partitioned
                  ``added/model_type=<MT>/dt=<YYYY-MM-DD>/``, for Athena and ``textloop query``)
``datasets/``     the imported seed data, the frozen split's state, and each data set version
``models/``       per model version: artefacts, metadata, evaluation, figures, Comprehend output;
                  under ``models/encoders/<name>/<sha256>.zip`` the sentence encoders' artefacts,
                  and under ``models/encoders/<name>/<sha256>/cache/`` their embedding caches
``flywheels/``    the data lakes of the Comprehend flywheels, one per model type (Comprehend manages
                  their contents; textloop only names the prefix)
``audit/``        one record per iteration, with the documents the decision rests on, and one
                  per rollback of the active model

Every object is written once (the bucket is versioned); the few that move on purpose (the pool's
current pointer, the split state, review tasks re-issued with a new task token) say so where
they are written.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from textloop.domain.names import ModelType

FEEDBACK_PREFIX = "feedback/"
UPLOADS_PREFIX = "uploads/"
REVIEWS_PREFIX = "reviews/"
ANNOTATIONS_PREFIX = "annotations/"
DATASETS_PREFIX = "datasets/"
MODELS_PREFIX = "models/"
AUDIT_PREFIX = "audit/"
FLYWHEELS_PREFIX = "flywheels/"

# Hive's (and Athena's) spelling of a NULL partition value: batch records without a prediction
# have no model_version.
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
# Errors objects of batch uploads. The S3 notification of the batch Lambda must NOT cover this
# prefix (a suffix filter such as ".json" would also match "*.errors.json" and loop).
UPLOAD_ERRORS_PREFIX = f"{UPLOADS_PREFIX}errors/"
FEEDBACK_UPLOADS_PREFIX = f"{UPLOADS_PREFIX}feedback/"
FEEDBACK_UPLOAD_LAYOUT = (
    f"{FEEDBACK_UPLOADS_PREFIX}<DOCUMENT_CLASSIFIER|ENTITY_RECOGNIZER>/<application_id>/<file>"
    " (application_id: 1-24 lowercase letters, digits and inner hyphens)"
)
# A client application's id (``applications.Application``): lowercase letters, digits and inner
# hyphens, at most 24 characters. It is a segment of the application's upload prefix, and
# Terraform derives AWS names from it (API key, usage plan, the upload role
# "<name_prefix>-<stage>-upload-<id>", which must fit IAM's 64 characters); nothing in it can
# climb out of the prefix ("..", "/") or hide in it (spaces).
APPLICATION_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,22}[a-z0-9])?$")
REVIEW_INDEX_PREFIX = f"{REVIEWS_PREFIX}index/"
MODEL_ARTEFACT_NAME = "model.joblib"
# Step Functions execution names: 1-80 of letters, digits, '-' and '_'. The iteration id is
# the execution name and becomes part of keys, so nothing else is allowed.
ITERATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")
# Review batch ids (selection.batch_id: 63 characters of [a-z0-9-], also A2I human-loop names)
# arrive in URL paths and events: anything else (``..``, ``/``, %-escapes, 1,000 characters
# that S3 would refuse as a key) names no batch.
BATCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")


# --------------------------------------------------------------------------- feedback/


def feedback_partition(model_version: str | None, observed_at: str) -> str:
    """``feedback/model_version=<v>/dt=<YYYY-MM-DD>/`` for a record observed at ``observed_at``
    (an RFC 3339 UTC timestamp)."""
    return (
        f"{FEEDBACK_PREFIX}model_version={model_version or NULL_PARTITION}/dt={observed_at[:10]}/"
    )


def feedback_record_key(record_id: str, model_version: str | None, observed_at: str) -> str:
    """Where a single record lives: a function of its content, so a retry lands on the same key."""
    return feedback_partition(model_version, observed_at) + f"{record_id}.json"


def is_feedback_object(key: str) -> bool:
    """A feedback object: a file of the buffered lake (``.jsonl.gz``), or of the layout before
    it, a single record (``.json``) or a chunk of records (``.jsonl``)."""
    return key.startswith(FEEDBACK_PREFIX) and key.endswith((".json", ".jsonl", ".jsonl.gz"))


# The buffered lake (issue "Scale"): feedback lands in files of many records, gzipped JSON Lines
# of ``FeedbackRecord``s, one partition per model type and hour (UTC), Hive style so Glue's
# partition projection and DuckDB read the same keys. An iteration lists only the hours since its
# watermark, so its cost follows the new feedback, not the size of the lake.
FEEDBACK_FILE_LAYOUT = (
    f"{FEEDBACK_PREFIX}model_type=<MODEL_TYPE>/dt=<YYYY-MM-DD>/hour=<HH>/<name>.jsonl.gz"
)
FEEDBACK_FILE_SUFFIX = ".jsonl.gz"
_HOUR = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2})$")
_FEEDBACK_FILE = re.compile(
    rf"^{FEEDBACK_PREFIX}model_type=([A-Z_]+)/dt=(\d{{4}}-\d{{2}}-\d{{2}})/hour=(\d{{2}})/"
    r"([A-Za-z0-9_-]{1,128})\.jsonl\.gz$"
)
# A file's name: a content digest (the buffer's batches) or ``batch-<upload digest>-<part>``.
FEEDBACK_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def feedback_hour(timestamp: str) -> str:
    """The partition hour ``YYYY-MM-DDTHH`` of an RFC 3339 UTC timestamp (``...Z``)."""
    hour = timestamp[:13]
    if not _HOUR.match(hour):
        raise ValueError(f"not an RFC 3339 UTC timestamp: {timestamp!r}")
    return hour


def feedback_hour_prefix(model_type: str, hour: str) -> str:
    """``feedback/model_type=<MT>/dt=<YYYY-MM-DD>/hour=<HH>/``: one model type's files of one
    hour (``hour``: ``YYYY-MM-DDTHH``, as ``feedback_hour`` gives)."""
    match = _HOUR.match(hour)
    if match is None:
        raise ValueError(f"hour must be YYYY-MM-DDTHH, not {hour!r}")
    day, hh = match.groups()
    return f"{FEEDBACK_PREFIX}model_type={ModelType(model_type).value}/dt={day}/hour={hh}/"


def feedback_day_prefix(model_type: str, day: str) -> str:
    """``feedback/model_type=<MT>/dt=<YYYY-MM-DD>/``: one model type's files of one day."""
    return f"{feedback_model_type_prefix(model_type)}dt={_day(day)}/"


def feedback_model_type_prefix(model_type: str) -> str:
    return f"{FEEDBACK_PREFIX}model_type={ModelType(model_type).value}/"


def feedback_file_key(model_type: str, hour: str, name: str) -> str:
    """One file of feedback records in its partition; ``name`` is derived from the content (a
    re-delivered batch lands on the same key)."""
    if not FEEDBACK_FILE_NAME.match(name):
        raise ValueError(f"feedback file name must match {FEEDBACK_FILE_NAME.pattern}: {name!r}")
    return feedback_hour_prefix(model_type, hour) + name + FEEDBACK_FILE_SUFFIX


def feedback_file_partition(key: str) -> tuple[str, str] | None:
    """``(model_type, hour)`` of a key ``feedback_file_key`` made; None for any other key."""
    match = _FEEDBACK_FILE.match(key)
    if match is None or match.group(1) not in ModelType.__members__:
        return None
    return match.group(1), f"{match.group(2)}T{match.group(3)}"


# --------------------------------------------------------------------------- uploads/


def is_upload(key: str) -> bool:
    """Under ``uploads/`` and not one of textloop's own errors objects."""
    return key.startswith(UPLOADS_PREFIX) and not key.startswith(UPLOAD_ERRORS_PREFIX)


def feedback_upload_key(model_type: str, application_id: str, file_name: str) -> str:
    if not APPLICATION_ID.fullmatch(application_id):
        raise ValueError(
            f"application_id must match {APPLICATION_ID.pattern}, got {application_id!r}"
        )
    return f"{FEEDBACK_UPLOADS_PREFIX}{ModelType(model_type).value}/{application_id}/{file_name}"


def feedback_upload_prefixes(application_id: str) -> list[str]:
    """The prefixes one application may upload under (one per model type): what its upload
    role's ``s3:PutObject`` is limited to in Terraform, spelled here for the tests."""
    return [feedback_upload_key(m.value, application_id, "") for m in ModelType]


def feedback_upload_target(key: str) -> tuple[str, str] | None:
    """``(model_type, application_id)`` of a key of the form ``FEEDBACK_UPLOAD_LAYOUT``; None
    for any other key.

    The model type picks the active-model pointer (and so the mode) the lines are checked
    against; the application id is the upload's submitter (each application's upload role may
    write only under its own prefixes). An application id that breaks ``APPLICATION_ID``
    (``..``, spaces, capitals) makes the key one of "any other key".
    """
    if not key.startswith(FEEDBACK_UPLOADS_PREFIX):
        return None
    parts = key[len(FEEDBACK_UPLOADS_PREFIX) :].split("/")
    if len(parts) < 3 or not APPLICATION_ID.fullmatch(parts[1]) or not parts[-1]:
        return None
    if parts[0] not in (ModelType.DOCUMENT_CLASSIFIER, ModelType.ENTITY_RECOGNIZER):
        return None
    return parts[0], parts[1]


def upload_errors_key(upload_key: str) -> str:
    """``uploads/errors/<key below uploads/>.errors.json`` for an uploaded ``key``."""
    relative = upload_key.removeprefix(UPLOADS_PREFIX)
    return f"{UPLOAD_ERRORS_PREFIX}{relative}.errors.json"


# --------------------------------------------------------------------------- reviews/


def _iteration(iteration_id: str) -> str:
    if not isinstance(iteration_id, str) or not ITERATION_ID.fullmatch(iteration_id):
        raise ValueError(
            f"iteration_id must match {ITERATION_ID.pattern} (a Step Functions execution name), "
            f"got {iteration_id!r}"
        )
    return iteration_id


def new_feedback_key(iteration_id: str) -> str:
    """The iteration's new feedback that is in no feedback file (gzipped JSON Lines): the
    carry-over Prepare read and, once, the old layout's records. With the files Prepare names at
    ``intake_key``, it is what Select chooses from (``intake.iteration_rows``); the files
    themselves are not copied."""
    return f"{REVIEWS_PREFIX}{_iteration(iteration_id)}/new-feedback.jsonl.gz"


def intake_key(iteration_id: str) -> str:
    """What Prepare read (hour prefixes listed, the files read with their ETags, the pool
    version it counted against) and the watermark it proposes; the Record step of a decided
    iteration commits the proposal (``watermark_key``)."""
    return f"{REVIEWS_PREFIX}{_iteration(iteration_id)}/intake.json"


def watermark_key(model_type: str) -> str:
    """A model type's intake watermark: the last partition hour its iterations read and the
    files read within the lateness window before it. It moves on purpose, once per decided
    iteration."""
    return f"{REVIEWS_PREFIX}watermarks/{ModelType(model_type).value}.json"


def carry_over_key(model_type: str) -> str:
    """The candidates a decided iteration left unanswered, for the next one (gzipped JSON
    Lines of feedback records, bounded by ``carry_over_limit``). It moves on purpose, once per
    decided iteration."""
    return f"{REVIEWS_PREFIX}carry-over/{ModelType(model_type).value}.jsonl.gz"


def legacy_feedback_prefix() -> str:
    """The one-object-per-record layout before the partitioned files (``feedback_partition``):
    read once per model type, by its first incremental iteration."""
    return f"{FEEDBACK_PREFIX}model_version="


def hour_shifted(hour: str, hours: int) -> str:
    """``hour`` (``YYYY-MM-DDTHH``) moved by ``hours``."""
    if not _HOUR.match(hour):
        raise ValueError(f"hour must be YYYY-MM-DDTHH, not {hour!r}")
    moved = datetime.strptime(hour, "%Y-%m-%dT%H") + timedelta(hours=hours)
    return moved.strftime("%Y-%m-%dT%H")


def selection_key(iteration_id: str) -> str:
    return f"{REVIEWS_PREFIX}{_iteration(iteration_id)}/selection.json"


def merge_result_key(iteration_id: str) -> str:
    """MergeAnswers' result, so a retried merge returns it instead of merging twice."""
    return f"{REVIEWS_PREFIX}{_iteration(iteration_id)}/merge.json"


def _batch(iteration_id: str, batch_id: str, name: str) -> str:
    return f"{REVIEWS_PREFIX}{_iteration(iteration_id)}/batches/{batch_id}/{name}"


def review_task_key(iteration_id: str, batch_id: str) -> str:
    return _batch(iteration_id, batch_id, "task.json")


def review_answers_key(iteration_id: str, batch_id: str) -> str:
    return _batch(iteration_id, batch_id, "answers.json")


def review_expired_key(iteration_id: str, batch_id: str) -> str:
    return _batch(iteration_id, batch_id, "expired.json")


def review_index_key(batch_id: str) -> str:
    """Batch ids are global (they double as A2I human-loop names): this finds the iteration."""
    return f"{REVIEW_INDEX_PREFIX}{batch_id}.json"


def approval_key(iteration_id: str) -> str:
    return f"{REVIEWS_PREFIX}{_iteration(iteration_id)}/approval.json"


def approval_response_key(iteration_id: str) -> str:
    return f"{REVIEWS_PREFIX}{_iteration(iteration_id)}/approval-response.json"


# --------------------------------------------------------------------------- annotations/


def pool_key(pool_version: str) -> str:
    return f"{ANNOTATIONS_PREFIX}pool/{pool_version}.json"


def current_pool_key(model_type: str) -> str:
    return f"{ANNOTATIONS_PREFIX}current/{ModelType(model_type).value}.json"


# The answers each MergeAnswers added to the pool, one file per iteration in a Hive-style
# partition of its model type and the iteration's start day (UTC): the pool versions hold every
# answer again and again, this holds each once, so a query over the reviewed annotations scans
# what the iterations added, by day.
ANNOTATIONS_ADDED_PREFIX = f"{ANNOTATIONS_PREFIX}added/"
ANNOTATIONS_ADDED_LAYOUT = (
    f"{ANNOTATIONS_ADDED_PREFIX}model_type=<MODEL_TYPE>/dt=<YYYY-MM-DD>/<iteration_id>.jsonl.gz"
)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day(day: str) -> str:
    if not isinstance(day, str) or not _DAY.match(day):
        raise ValueError(f"day must be YYYY-MM-DD, not {day!r}")
    return day


def annotations_added_day_prefix(model_type: str, day: str) -> str:
    """``annotations/added/model_type=<MT>/dt=<YYYY-MM-DD>/``: the iterations of one day."""
    return f"{ANNOTATIONS_ADDED_PREFIX}model_type={ModelType(model_type).value}/dt={_day(day)}/"


def annotations_added_key(model_type: str, day: str, iteration_id: str) -> str:
    """The answers iteration ``iteration_id`` added to the pool of ``model_type``; ``day`` is
    the iteration's start day ``YYYY-MM-DD`` (fixed, so a retried merge writes the same key)."""
    return f"{annotations_added_day_prefix(model_type, day)}{_iteration(iteration_id)}.jsonl.gz"


# --------------------------------------------------------------------------- datasets/


# The seed data set of each model type, in Comprehend's training format, as file name -> the
# name of the object under ``datasets/seed/<model type>/``. An entity recogniser's seed is two
# files: the documents (one per line) and the annotations CSV whose ``File`` column names the
# documents file as ``SEED_ENTITY_DOCUMENTS`` (the import writes it so).
SEED_CLASSIFIER_FILE = "train.csv"
SEED_ENTITY_DOCUMENTS = "train.txt"
SEED_ENTITY_ANNOTATIONS = "train-annotations.csv"
_SEED_FILES = {
    ModelType.DOCUMENT_CLASSIFIER: (SEED_CLASSIFIER_FILE,),
    ModelType.ENTITY_RECOGNIZER: (SEED_ENTITY_DOCUMENTS, SEED_ENTITY_ANNOTATIONS),
}


def seed_key(model_type: str) -> str:
    """The original training data of a model type, imported by the CLI: the Comprehend CSV of a
    classifier, the documents file of an entity recogniser (its annotations:
    ``seed_annotations_key``)."""
    return seed_keys(model_type)[_SEED_FILES[ModelType(model_type)][0]]


def seed_annotations_key(model_type: str) -> str:
    """The annotations CSV of an entity recogniser's seed (``File,Line,Begin Offset,End
    Offset,Type``, ``File`` being ``SEED_ENTITY_DOCUMENTS``); classifiers have none."""
    if ModelType(model_type) != ModelType.ENTITY_RECOGNIZER:
        raise ValueError(f"{model_type} seed data has no annotations file")
    return seed_keys(model_type)[SEED_ENTITY_ANNOTATIONS]


def seed_keys(model_type: str) -> dict[str, str]:
    """Every object of a model type's seed data set: file name -> key."""
    kind = ModelType(model_type)
    return {name: f"{DATASETS_PREFIX}seed/{kind.value}/{name}" for name in _SEED_FILES[kind]}


def split_state_key(model_type: str) -> str:
    """The frozen test set and the training keys, carried from one build to the next."""
    return f"{DATASETS_PREFIX}split-state/{ModelType(model_type).value}.json"


def dataset_key(dataset_version: str, name: str) -> str:
    return f"{DATASETS_PREFIX}{dataset_version}/{name}"


def flywheel_dataset_key(model_type: str, model_version: str, name: str) -> str:
    """An input of the data sets one iteration gives the model type's flywheel (its new
    documents in Comprehend's formats, and ``manifest.json`` saying which they are)."""
    return f"{DATASETS_PREFIX}flywheel/{ModelType(model_type).value}/{model_version}/{name}"


def flywheel_ledger_key(model_type: str) -> str:
    """What textloop gave the model type's flywheel so far (``datasets.flywheel``); it moves
    on purpose, once per iteration."""
    return f"{DATASETS_PREFIX}flywheel/{ModelType(model_type).value}/ledger.json"


def flywheel_data_lake_prefix(model_type: str) -> str:
    """The flywheel's own data lake (its DataLakeS3Uri), which Comprehend organises."""
    return f"{FLYWHEELS_PREFIX}{ModelType(model_type).value}/"


# --------------------------------------------------------------------------- models/


def model_key(model_version: str, name: str) -> str:
    """An object of one model version: ``model.joblib``, ``metadata.json``, ``evaluation.json``
    and the evaluation's figures."""
    return f"{MODELS_PREFIX}{model_version}/{name}"


def artefact_key(model_version: str) -> str:
    return model_key(model_version, MODEL_ARTEFACT_NAME)


def metadata_key(model_version: str) -> str:
    return model_key(model_version, "metadata.json")


def evaluation_key(model_version: str) -> str:
    return model_key(model_version, "evaluation.json")


def model_version_of_artefact(key: str) -> str | None:
    """The model version whose artefact ``key`` is; None for any other key."""
    suffix = f"/{MODEL_ARTEFACT_NAME}"
    if not key.startswith(MODELS_PREFIX) or not key.endswith(suffix):
        return None
    version = key[len(MODELS_PREFIX) : -len(suffix)]
    return version if version and "/" not in version else None


ENCODER_ARTEFACTS_PREFIX = f"{MODELS_PREFIX}encoders/"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def encoder_artefact_key(encoder_name: str, sha256: str) -> str:
    """A sentence encoder's artefact (``domain/sentence_encoder.py``), named by its content: a
    new build is a new key, and a reader checks the bytes against the name."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", encoder_name) or ".." in encoder_name:
        raise ValueError(f"not an encoder name: {encoder_name!r}")
    if not _SHA256.match(sha256):
        raise ValueError(f"not a sha256: {sha256!r}")
    return f"{ENCODER_ARTEFACTS_PREFIX}{encoder_name}/{sha256}.zip"


def encoder_artefact_sha256(key: str) -> str | None:
    """The sha256 an encoder artefact's key names; None for any other key."""
    if not key.startswith(ENCODER_ARTEFACTS_PREFIX) or not key.endswith(".zip"):
        return None
    parts = key[len(ENCODER_ARTEFACTS_PREFIX) : -len(".zip")].split("/")
    return parts[1] if len(parts) == 2 and _SHA256.match(parts[1]) else None


def embedding_cache_prefix(encoder_name: str, encoder_sha256: str) -> str:
    """The embedding cache of one encoder artefact (``models/encoders/<name>/<sha256>/cache/``):
    segments of (text sha256, embedding) rows written by the runs that embedded new texts
    (``domain.embedding_cache``), never rewritten."""
    return f"{encoder_artefact_key(encoder_name, encoder_sha256)[: -len('.zip')]}/cache/"


def embedding_cache_segment_key(encoder_name: str, encoder_sha256: str, segment: str) -> str:
    """One segment, named by its writer after its run and its texts (a retried step names the
    same segments)."""
    if not segment or "/" in segment or segment.startswith("."):
        raise ValueError(f"not a segment name: {segment!r}")
    return f"{embedding_cache_prefix(encoder_name, encoder_sha256)}{segment}.npz"


def comprehend_output_prefix(model_version: str) -> str:
    """Where Comprehend writes a training job's output (its own evaluation, confusion matrix)."""
    return model_key(model_version, "comprehend-output/")


def test_predictions_prefix(model_version: str, dataset_version: str) -> str:
    """Where a batch classification job over a data set's test documents writes its output."""
    return test_predictions_root(model_version) + f"{dataset_version}/"


def test_predictions_root(model_version: str) -> str:
    """Every batch job output of one model version (one prefix per data set below it): what
    ``textloop resources prune`` removes with the version."""
    return model_key(model_version, "test-predictions/")


def test_predictions_of(key: str) -> tuple[str, str] | None:
    """``(model_version, dataset_version)`` of a key under ``test_predictions_prefix``; None for
    any other key."""
    if not key.startswith(MODELS_PREFIX):
        return None
    parts = key[len(MODELS_PREFIX) :].split("/")
    if len(parts) < 4 or parts[1] != "test-predictions" or not parts[0] or not parts[2]:
        return None
    return parts[0], parts[2]


# --------------------------------------------------------------------------- audit/


def audit_key(iteration_id: str) -> str:
    """``audit/iterations/<iteration_id>.json``: one stable key per iteration."""
    return f"{AUDIT_PREFIX}iterations/{_iteration(iteration_id)}.json"


# Registry event ids (rollbacks: ``rollback-<hash>``) become part of a key.
EVENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def rollback_audit_key(model_type: str, event_id: str) -> str:
    """``audit/rollbacks/<model type>/<event id>.json``: one record per rollback, keyed by its
    registry event, so a retried request lands on the same key."""
    if not EVENT_ID.match(event_id):
        raise ValueError(f"event_id must match {EVENT_ID.pattern}, got {event_id!r}")
    return f"{AUDIT_PREFIX}rollbacks/{ModelType(model_type).value}/{event_id}.json"


def iteration_document_key(iteration_id: str, name: str) -> str:
    """Documents of one iteration beside its audit record (the active model's evaluation on
    this iteration's test set and its figures, the gate's decision)."""
    return f"{AUDIT_PREFIX}iterations/{_iteration(iteration_id)}/{name}"
