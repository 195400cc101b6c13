-- Feedback per label per day and model type, last 30 days (Athena, Trino SQL).
-- A record counts under the labels a person gave (corrected_labels: label names, or entity spans
-- whose type is the label) and otherwise under the model's prediction (a classifier's top label,
-- a recogniser's entity types). The dt filter prunes partitions through projection: Athena
-- reads only those days' files (and charges for those bytes only).
-- textloop_ops/query.py runs the same query on DuckDB (`textloop query --named feedback-per-label-per-day`).
SELECT model_type, dt, label_source, label, count(DISTINCT id) AS records
FROM (
  SELECT
    id,
    model_type,
    dt,
    IF(corrected_labels IS NULL, 'predicted', 'corrected') AS label_source,
    CASE
      WHEN corrected_labels IS NOT NULL AND model_type = 'DOCUMENT_CLASSIFIER'
        THEN CAST(json_parse(corrected_labels) AS ARRAY(VARCHAR))
      WHEN corrected_labels IS NOT NULL
        THEN transform(CAST(json_parse(corrected_labels) AS ARRAY(JSON)), s -> json_extract_scalar(s, '$.type'))
      WHEN model_type = 'DOCUMENT_CLASSIFIER'
        THEN slice(transform(prediction.labels, l -> l.label), 1, 1)
      ELSE transform(prediction.entities, e -> e.type)
    END AS labels
  FROM feedback
  WHERE dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
) AS labelled
CROSS JOIN UNNEST(labels) AS t (label)
GROUP BY model_type, dt, label_source, label
ORDER BY dt, model_type, label_source, label
