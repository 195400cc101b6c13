################################################################################
# The active-learning loop: the iteration's step functions, the review, approval, iteration and
# model APIs, the registry table, the schedule, and (on AWS) Amazon A2I and Comprehend access.
################################################################################

locals {
  iteration_state_machine_name = "${local.name}-iteration"
  # Built from the name, not the resource: the iterations API starts executions of the state
  # machine whose definition names that API's siblings, so a reference would be a cycle.
  iteration_state_machine_arn = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.iteration_state_machine_name}"
  iteration_executions_arn    = "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.iteration_state_machine_name}:*"

  use_a2i        = var.review_backend == "a2i"
  use_comprehend = var.model_backend == "comprehend"

  # Without a given endpoint, the Comprehend back-end names its own, one per model type; the
  # first promotion creates it (an endpoint needs a trained model, so it cannot exist before the
  # first one).
  comprehend_classifier_endpoint_arn = var.comprehend_classifier_endpoint_arn != null ? var.comprehend_classifier_endpoint_arn : (
    local.use_comprehend ? "arn:${local.partition}:comprehend:${local.region}:${local.account_id}:document-classifier-endpoint/${local.name}-classifier" : null
  )
  comprehend_recognizer_endpoint_arn = var.comprehend_recognizer_endpoint_arn != null ? var.comprehend_recognizer_endpoint_arn : (
    local.use_comprehend ? "arn:${local.partition}:comprehend:${local.region}:${local.account_id}:entity-recognizer-endpoint/${local.name}-recognizer" : null
  )
  comprehend_endpoint_arns = compact([local.comprehend_classifier_endpoint_arn, local.comprehend_recognizer_endpoint_arn])

  # Flywheel mode (comprehend_training = "flywheel"): one flywheel per model type, created by the
  # first flywheel iteration. The role and the functions' rights exist with every Comprehend
  # back-end, since an execution input may ask for flywheel training.
  comprehend_flywheel_names = {
    DOCUMENT_CLASSIFIER = "${local.name}-classifier"
    ENTITY_RECOGNIZER   = "${local.name}-recognizer"
  }
  comprehend_flywheel_arns = [for name in values(local.comprehend_flywheel_names) : "arn:${local.partition}:comprehend:${local.region}:${local.account_id}:flywheel/${name}"]
  comprehend_flywheel_resources = concat(
    local.comprehend_flywheel_arns,
    [for arn in local.comprehend_flywheel_arns : "${arn}/dataset/*"],
  )
  # What each flywheel iteration gives its flywheel (layout.flywheel_dataset_key).
  flywheel_dataset_objects = "${module.data_lake.bucket_arn}/${module.data_lake.prefixes["datasets"]}flywheel/*"
  # local_model goes into the DOCUMENT_CLASSIFIER section: an entity recogniser refuses it.
  iteration_defaults = merge(
    var.iteration_defaults,
    { model_backend = var.model_backend, classifier_mode = var.classifier_mode },
    { for model_type in setunion(keys(var.comprehend_training), ["DOCUMENT_CLASSIFIER"]) : model_type => merge(
      lookup(var.iteration_defaults, model_type, {}),
      { for name, value in { comprehend_training = lookup(var.comprehend_training, model_type, null) } : name => value if value != null },
      { for name, value in { local_model = var.local_model } : name => value if model_type == "DOCUMENT_CLASSIFIER" },
    ) },
  )

  a2i_output_prefix = "${module.data_lake.prefixes["reviews"]}a2i-output/"
  # One worker template (human task UI) and flow definition per model type: a flow definition
  # has one task UI, and an entity batch needs crowd-entity-annotation, which is a widget of its
  # own (it may not sit in a crowd-form with the classifier's questions).
  a2i_reviews = local.use_a2i ? {
    DOCUMENT_CLASSIFIER = {
      template    = var.classifier_mode == "MULTI_LABEL" ? "multi-label" : "single-label"
      flow        = "review"
      title       = "Review text labels"
      description = "Confirm or correct the label(s) the model suggested for each text."
    }
    ENTITY_RECOGNIZER = {
      template    = "entity"
      flow        = "entity-review"
      title       = "Review entities in texts"
      description = "Confirm, correct, add or remove the entities the model highlighted in the texts."
    }
  } : {}

  loop_environment = {
    ACTIVE_MODEL_PARAMETER_PREFIX       = local.active_model_parameter_prefix
    STACK_NAME                          = local.name
    REGISTRY_TABLE                      = aws_dynamodb_table.registry.name
    NOTIFICATIONS_TOPIC_ARN             = aws_sns_topic.notifications.arn
    ITERATION_DEFAULTS                  = jsonencode(local.iteration_defaults)
    REVIEW_BACKEND                      = var.review_backend
    A2I_FLOW_DEFINITION_ARN             = local.use_a2i ? aws_sagemaker_flow_definition.review["DOCUMENT_CLASSIFIER"].arn : ""
    A2I_ENTITY_FLOW_DEFINITION_ARN      = local.use_a2i ? aws_sagemaker_flow_definition.review["ENTITY_RECOGNIZER"].arn : ""
    COMPREHEND_DATA_ACCESS_ROLE_ARN     = local.use_comprehend ? aws_iam_role.comprehend[0].arn : ""
    COMPREHEND_CLASSIFIER_ENDPOINT_ARN  = local.comprehend_classifier_endpoint_arn == null ? "" : local.comprehend_classifier_endpoint_arn
    COMPREHEND_RECOGNIZER_ENDPOINT_ARN  = local.comprehend_recognizer_endpoint_arn == null ? "" : local.comprehend_recognizer_endpoint_arn
    COMPREHEND_ENDPOINT_INFERENCE_UNITS = tostring(var.comprehend_endpoint_inference_units)
    COMPREHEND_CLASSIFIER_NAME          = "${local.name}-classifier"
    COMPREHEND_RECOGNIZER_NAME          = "${local.name}-recognizer"
    COMPREHEND_CLASSIFIER_FLYWHEEL_NAME = local.comprehend_flywheel_names["DOCUMENT_CLASSIFIER"]
    COMPREHEND_RECOGNIZER_FLYWHEEL_NAME = local.comprehend_flywheel_names["ENTITY_RECOGNIZER"]
    COMPREHEND_FLYWHEEL_ROLE_ARN        = local.use_comprehend ? aws_iam_role.comprehend_flywheel[0].arn : ""
    COMPREHEND_KMS_KEY_ARN              = local.use_comprehend ? module.data_lake.kms_key_arn : ""
    STATE_MACHINE_ARN                   = local.iteration_state_machine_arn
    # The encoder a new tfidf+embeddings model is trained with (encoder.tf); a trained model
    # names its own in its metadata.
    SENTENCE_ENCODER_NAME   = local.sentence_encoder_name
    SENTENCE_ENCODER_SHA256 = aws_s3_object.sentence_encoder.source_hash
  }

  registry_read = {
    sid       = "ReadRegistry"
    actions   = ["dynamodb:GetItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.registry.arn]
  }
  registry_kms = {
    sid       = "UseRegistryKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
    conditions = [
      {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["dynamodb.${local.region}.amazonaws.com"]
      },
    ]
  }
  pointer_read = {
    sid       = "ReadActiveModelPointer"
    actions   = ["ssm:GetParameter"]
    resources = [local.active_model_parameter_arn]
  }
  pointer_write = {
    sid       = "MoveActiveModelPointer"
    actions   = ["ssm:GetParameter", "ssm:PutParameter"]
    resources = [local.active_model_parameter_arn]
  }
  # Task tokens from service-integration Task states cannot be scoped by IAM: the token itself
  # is the capability, and only these functions are ever handed one.
  complete_tasks = {
    sid       = "CompleteTaskTokens"
    actions   = ["states:SendTaskSuccess"]
    resources = ["*"]
  }
  # Only an A2I human loop can end without answers (failed, stopped, invalid output).
  complete_or_fail_tasks = merge(local.complete_tasks, {
    actions = ["states:SendTaskSuccess", "states:SendTaskFailure"]
  })
  # Before an answer is stored: does its iteration still wait (execution RUNNING)? An answer
  # stored as the wait ended is withdrawn (the versioned bucket keeps it as a deleted version).
  late_answers = [
    { sid = "AskWhetherTheIterationWaits", actions = ["states:DescribeExecution"], resources = [local.iteration_executions_arn] },
    { sid = "WithdrawLateAnswers", actions = ["s3:DeleteObject"], resources = [local.lake_objects["reviews"]] },
  ]
  # Optional statements are filtered lists: HCL cannot choose between tuples of other shapes.
  # Each real-time call on its own model type's endpoint only.
  comprehend_classify = [
    for statement in [
      {
        sid       = "ClassifyWithComprehendEndpoint"
        actions   = ["comprehend:ClassifyDocument"]
        resources = compact([local.comprehend_classifier_endpoint_arn])
      },
      {
        sid       = "DetectEntitiesWithComprehendEndpoint"
        actions   = ["comprehend:DetectEntities"]
        resources = compact([local.comprehend_recognizer_endpoint_arn])
      },
    ] : statement if length(statement.resources) > 0
  ]
  pass_comprehend_role = {
    sid       = "PassComprehendDataRole"
    actions   = ["iam:PassRole"]
    resources = [one(aws_iam_role.comprehend[*].arn)]
    conditions = [
      { test = "StringEquals", variable = "iam:PassedToService", values = ["comprehend.amazonaws.com"] },
    ]
  }
  pass_flywheel_role = {
    sid       = "PassComprehendFlywheelRole"
    actions   = ["iam:PassRole"]
    resources = [one(aws_iam_role.comprehend_flywheel[*].arn)]
    conditions = [
      { test = "StringEquals", variable = "iam:PassedToService", values = ["comprehend.amazonaws.com"] },
    ]
  }
  # A flywheel's models, volumes and data lake are encrypted with the data lake key: Comprehend
  # takes grants on it for the caller that creates the flywheel.
  flywheel_kms_grants = {
    sid       = "GrantDataLakeKeyToComprehend"
    actions   = ["kms:CreateGrant", "kms:DescribeKey"]
    resources = [module.data_lake.kms_key_arn]
    conditions = [
      { test = "StringEquals", variable = "kms:ViaService", values = ["comprehend.${local.region}.amazonaws.com"] },
    ]
  }
  # The data sets and iterations the Train step begins, DescribeTraining carries on.
  flywheel_iteration_actions = [
    "comprehend:DescribeFlywheel", "comprehend:CreateDataset", "comprehend:DescribeDataset",
    "comprehend:StartFlywheelIteration", "comprehend:DescribeFlywheelIteration", "comprehend:TagResource",
  ]
  comprehend_classifier_arn = "arn:${local.partition}:comprehend:${local.region}:${local.account_id}:document-classifier/${local.name}-classifier"
  comprehend_recognizer_arn = "arn:${local.partition}:comprehend:${local.region}:${local.account_id}:entity-recognizer/${local.name}-recognizer"
  comprehend_jobs           = "arn:${local.partition}:comprehend:${local.region}:${local.account_id}"
  # The endpoints and the model versions they may be pointed at (the models API's rollback
  # may name any earlier version). CreateEndpoint passes the stack's tags, and tag-on-create is
  # authorised as comprehend:TagResource on the new endpoint. Comprehend itself refuses a
  # classifier on a recogniser's
  # endpoint and the other way round.
  comprehend_update_endpoint = [
    for statement in [{
      sid       = "UpdateComprehendEndpoints"
      actions   = ["comprehend:UpdateEndpoint", "comprehend:CreateEndpoint", "comprehend:DescribeEndpoint", "comprehend:TagResource"]
      resources = concat(local.comprehend_endpoint_arns, ["${local.comprehend_classifier_arn}/version/*", "${local.comprehend_recognizer_arn}/version/*"])
    }] : statement if length(local.comprehend_endpoint_arns) > 0
  ]

  # Each model type's intake watermark and carry-over (layout.watermark_key, carry_over_key):
  # Prepare reads them, the Record step of a decided iteration moves them.
  intake_state_objects = [
    "${module.data_lake.bucket_arn}/${module.data_lake.prefixes["reviews"]}watermarks/*",
    "${module.data_lake.bucket_arn}/${module.data_lake.prefixes["reviews"]}carry-over/*",
  ]

  s3 = {
    read  = ["s3:GetObject"]
    write = ["s3:PutObject"]
    rw    = ["s3:GetObject", "s3:PutObject"]
  }

  loop_function_specs = {
    prepare = {
      description = "Iteration step: validates the input, applies defaults, counts the feedback since the watermark and names the files it read, takes the per-model lock"
      memory_size = 512
      timeout     = 120
      environment = local.loop_environment
      policy_statements = [
        local.list_lake,
        { sid = "ReadFeedbackAndPool", actions = local.s3.read, resources = [local.lake_objects["feedback"], local.lake_objects["annotations"]] },
        { sid = "ReadIntakeState", actions = local.s3.read, resources = local.intake_state_objects },
        { sid = "StoreNewFeedback", actions = local.s3.write, resources = [local.lake_objects["reviews"]] },
        local.lake_kms_read_write,
        { sid = "TakeLock", actions = ["dynamodb:GetItem", "dynamodb:PutItem"], resources = [aws_dynamodb_table.registry.arn] },
        local.registry_kms,
        # A lock whose holder is no longer RUNNING may be taken over.
        { sid = "CheckLockHolder", actions = ["states:DescribeExecution"], resources = [local.iteration_executions_arn] },
      ]
    }

    select_for_review = {
      description = "Iteration step: re-scores the new feedback with the active model and selects what people review"
      memory_size = 1024
      timeout     = 300
      environment = local.loop_environment
      policy_statements = concat([
        local.list_lake,
        { sid = "ReadCandidates", actions = local.s3.read, resources = [local.lake_objects["feedback"], local.lake_objects["annotations"], local.lake_objects["datasets"], local.lake_objects["models"], local.lake_objects["reviews"]] },
        { sid = "WriteReviewBatches", actions = local.s3.write, resources = [local.lake_objects["reviews"]] },
        local.lake_kms_read_write,
        local.pointer_read,
      ], local.comprehend_classify)
    }

    start_review = {
      description = "Iteration step: stores a review batch with its task token and starts the review (A2I or the review page)"
      environment = local.loop_environment
      policy_statements = concat([
        local.list_lake,
        { sid = "ReviewTasks", actions = local.s3.rw, resources = [local.lake_objects["reviews"]] },
        local.lake_kms_read_write,
        ], [
        for statement in [{
          sid       = "StartHumanLoops"
          actions   = ["sagemaker:StartHumanLoop", "sagemaker:DescribeHumanLoop"]
          resources = concat(["arn:${local.partition}:sagemaker:${local.region}:${local.account_id}:human-loop/*"], [for flow in aws_sagemaker_flow_definition.review : flow.arn])
        }] : statement if local.use_a2i
      ])
    }

    return_to_pool = {
      description = "Iteration step: closes a review batch past its deadline; its items return to the pool"
      environment = local.loop_environment
      policy_statements = [
        local.list_lake,
        { sid = "ReviewTasks", actions = local.s3.rw, resources = [local.lake_objects["reviews"]] },
        local.lake_kms_read_write,
      ]
    }

    merge_answers = {
      description = "Iteration step: merges reviewed answers and corrections into a new annotation pool version"
      memory_size = 512
      timeout     = 120
      environment = local.loop_environment
      policy_statements = [
        local.list_lake,
        { sid = "Answers", actions = local.s3.rw, resources = [local.lake_objects["reviews"]] },
        { sid = "WritePool", actions = local.s3.rw, resources = [local.lake_objects["annotations"]] },
        local.lake_kms_read_write,
      ]
    }

    build_datasets = {
      description = "Iteration step: builds train/test sets in Comprehend's formats with a frozen test set"
      memory_size = 1024
      timeout     = 300
      environment = local.loop_environment
      policy_statements = [
        local.list_lake,
        { sid = "ReadPool", actions = local.s3.read, resources = [local.lake_objects["annotations"]] },
        { sid = "Datasets", actions = local.s3.rw, resources = [local.lake_objects["datasets"]] },
        local.lake_kms_read_write,
      ]
    }

    train = {
      description = "Iteration step: trains a candidate (scikit-learn here, or CreateDocumentClassifier / CreateEntityRecognizer)"
      memory_size = 2048
      timeout     = 900
      environment = local.loop_environment
      policy_statements = concat([
        local.list_lake,
        { sid = "ReadDatasets", actions = local.s3.read, resources = [local.lake_objects["datasets"]] },
        { sid = "WriteModels", actions = local.s3.rw, resources = [local.lake_objects["models"]] },
        local.lake_kms_read_write,
        ], [
        for statement in [
          { sid = "TrainWithComprehend", actions = ["comprehend:CreateDocumentClassifier", "comprehend:ListDocumentClassifiers", "comprehend:TagResource"], resources = ["${local.comprehend_classifier_arn}", "${local.comprehend_classifier_arn}/version/*", "arn:${local.partition}:comprehend:${local.region}:${local.account_id}:document-classifier/*"] },
          { sid = "TrainRecognizersWithComprehend", actions = ["comprehend:CreateEntityRecognizer", "comprehend:ListEntityRecognizers", "comprehend:TagResource"], resources = ["${local.comprehend_recognizer_arn}", "${local.comprehend_recognizer_arn}/version/*", "arn:${local.partition}:comprehend:${local.region}:${local.account_id}:entity-recognizer/*"] },
          local.pass_comprehend_role,
          # Flywheel mode: the flywheel made once, its data sets and iteration started here.
          { sid = "WriteFlywheelDatasets", actions = local.s3.rw, resources = [local.flywheel_dataset_objects] },
          local.pointer_read,
          { sid = "ReadActiveEndpoint", actions = ["comprehend:DescribeEndpoint"], resources = local.comprehend_endpoint_arns },
          # ListFlywheels names no resource: IAM allows it on "*" only.
          { sid = "FindFlywheels", actions = ["comprehend:ListFlywheels"], resources = ["*"] },
          { sid = "TrainWithFlywheels", actions = concat(["comprehend:CreateFlywheel", "comprehend:ListDatasets"], local.flywheel_iteration_actions), resources = local.comprehend_flywheel_resources },
          # A new flywheel that begins from the active version: where that version's data is.
          { sid = "DescribeFlywheelOrigin", actions = ["comprehend:DescribeDocumentClassifier", "comprehend:DescribeEntityRecognizer"], resources = ["${local.comprehend_classifier_arn}/version/*", "${local.comprehend_recognizer_arn}/version/*"] },
          local.pass_flywheel_role,
          local.flywheel_kms_grants,
        ] : statement if local.use_comprehend
      ])
    }

    describe_training = {
      description = "Iteration step: polls a training job (bounded by the state machine)"
      environment = local.loop_environment
      # The local back-end trains inside the train step: there is nothing to poll.
      policy_statements = [
        for statement in [{
          sid       = "DescribeComprehendTraining"
          actions   = ["comprehend:DescribeDocumentClassifier", "comprehend:DescribeEntityRecognizer"]
          resources = ["${local.comprehend_classifier_arn}/version/*", "${local.comprehend_recognizer_arn}/version/*"]
          }, {
          sid       = "CarryOnFlywheelIterations"
          actions   = local.flywheel_iteration_actions
          resources = local.comprehend_flywheel_resources
          }, {
          # The version a flywheel iteration trained carries the stack's tags too.
          sid       = "TagFlywheelVersions"
          actions   = ["comprehend:TagResource"]
          resources = ["${local.comprehend_classifier_arn}/version/*", "${local.comprehend_recognizer_arn}/version/*"]
        }] : statement if local.use_comprehend
      ]
    }

    predict_test_set = {
      description = "Iteration step: arranges both models' predictions for the test set (Comprehend batch classification or entity detection jobs)"
      memory_size = 512
      timeout     = 120
      environment = local.loop_environment
      policy_statements = concat([
        local.pointer_read,
        ], [
        # Local models predict inside Evaluate: only Comprehend's batch jobs need documents.
        for statement in [
          local.list_lake,
          { sid = "TestDocuments", actions = local.s3.rw, resources = [local.lake_objects["datasets"]] },
          local.lake_kms_read_write,
          {
            sid       = "PredictWithComprehend"
            actions   = ["comprehend:StartDocumentClassificationJob", "comprehend:TagResource"]
            resources = ["${local.comprehend_classifier_arn}/version/*", "${local.comprehend_jobs}:document-classification-job/*"]
          },
          {
            sid       = "DetectEntitiesWithComprehendJobs"
            actions   = ["comprehend:StartEntitiesDetectionJob", "comprehend:TagResource"]
            resources = ["${local.comprehend_recognizer_arn}/version/*", "${local.comprehend_jobs}:entities-detection-job/*"]
          },
          local.pass_comprehend_role,
        ] : statement if local.use_comprehend
        ], [
        # Which model version the active endpoint serves, to predict with it in batch.
        for statement in [{
          sid       = "DescribeActiveEndpoint"
          actions   = ["comprehend:DescribeEndpoint"]
          resources = local.comprehend_endpoint_arns
        }] : statement if local.use_comprehend && length(local.comprehend_endpoint_arns) > 0
      ])
    }

    describe_test_predictions = {
      description = "Iteration step: polls the test-set prediction jobs (bounded by the state machine)"
      environment = local.loop_environment
      # Local models predict inside Evaluate: there is nothing to poll.
      policy_statements = [
        for statement in [{
          sid       = "DescribeComprehendPredictions"
          actions   = ["comprehend:DescribeDocumentClassificationJob", "comprehend:DescribeEntitiesDetectionJob"]
          resources = ["${local.comprehend_jobs}:document-classification-job/*", "${local.comprehend_jobs}:entities-detection-job/*"]
        }] : statement if local.use_comprehend
      ]
    }

    evaluate = {
      description = "Iteration step: evaluates candidate and active model on the same frozen test set; applies the gate"
      memory_size = 2048
      timeout     = 600
      environment = local.loop_environment
      policy_statements = concat([
        local.list_lake,
        { sid = "ReadDatasetsAndModels", actions = local.s3.read, resources = [local.lake_objects["datasets"], local.lake_objects["models"]] },
        { sid = "WriteEvaluations", actions = local.s3.write, resources = [local.lake_objects["models"], local.lake_objects["audit"]] },
        local.lake_kms_read_write,
      ], local.comprehend_classify)
    }

    wait_for_approval = {
      description = "Iteration step: stores the approval task token and asks a person to sign"
      environment = local.loop_environment
      policy_statements = [
        # Writes the request (overwriting: a retried step stores its new token); reads nothing.
        { sid = "ApprovalTasks", actions = local.s3.write, resources = [local.lake_objects["reviews"]] },
        local.lake_kms_read_write,
        { sid = "Notify", actions = ["sns:Publish"], resources = [aws_sns_topic.notifications.arn] },
        { sid = "EncryptNotifications", actions = ["kms:GenerateDataKey", "kms:Decrypt"], resources = [aws_kms_key.this.arn], conditions = [{ test = "StringEquals", variable = "kms:ViaService", values = ["sns.${local.region}.amazonaws.com"] }] },
      ]
    }

    promote_candidate = {
      description = "Iteration step: moves the active-model pointer to the candidate (and the Comprehend endpoint)"
      environment = local.loop_environment
      policy_statements = concat([
        local.list_lake,
        { sid = "ReadModels", actions = local.s3.read, resources = [local.lake_objects["models"]] },
        local.lake_kms_read,
        local.pointer_write,
        { sid = "RecordPromotion", actions = ["dynamodb:GetItem", "dynamodb:PutItem"], resources = [aws_dynamodb_table.registry.arn] },
        local.registry_kms,
        ], local.comprehend_update_endpoint, [
        for statement in [{
          sid       = "MoveFlywheelActiveModel"
          actions   = ["comprehend:UpdateFlywheel"]
          resources = local.comprehend_flywheel_arns
          },
          # The endpoint reads a flywheel's versions (encrypted with the data lake key) with it.
          local.pass_comprehend_role,
        ] : statement if local.use_comprehend
      ])
    }

    record = {
      description = "Iteration step: writes the iteration's audit record (RecordNoOp, RecordDecision, RecordFailure)"
      memory_size = 512
      timeout     = 120
      environment = local.loop_environment
      policy_statements = [
        local.list_lake,
        { sid = "ReadIterationRecords", actions = local.s3.read, resources = [local.lake_objects["feedback"], local.lake_objects["reviews"], local.lake_objects["annotations"], local.lake_objects["datasets"], local.lake_objects["models"], local.lake_objects["audit"]] },
        { sid = "WriteAudit", actions = local.s3.write, resources = [local.lake_objects["audit"]] },
        { sid = "CommitIntakeState", actions = local.s3.write, resources = local.intake_state_objects },
        local.lake_kms_read_write,
      ]
    }

    release_lock = {
      description = "Iteration step: frees the per-model lock held by this execution"
      environment = local.loop_environment
      policy_statements = [
        { sid = "ReleaseLock", actions = ["dynamodb:DeleteItem"], resources = [aws_dynamodb_table.registry.arn] },
        local.registry_kms,
      ]
    }

    reviews = {
      description = "Review API: pending review batches and their answers (completes the batch's task token)"
      environment = local.loop_environment
      policy_statements = concat([
        local.list_lake,
        { sid = "ReviewTasks", actions = local.s3.rw, resources = [local.lake_objects["reviews"]] },
        local.lake_kms_read_write,
        local.complete_tasks,
      ], local.late_answers)
    }

    a2i_callback = {
      description = "Completes a review batch when its A2I human loop ends (EventBridge status change)"
      environment = local.loop_environment
      policy_statements = concat([
        local.list_lake,
        { sid = "ReviewTasksAndA2IOutput", actions = local.s3.rw, resources = [local.lake_objects["reviews"]] },
        local.lake_kms_read_write,
        local.complete_or_fail_tasks,
      ], local.late_answers)
    }

    approvals = {
      description = "Approval API: a person signs (or refuses) a promotion"
      environment = local.loop_environment
      policy_statements = concat([
        local.list_lake,
        { sid = "ApprovalTasks", actions = local.s3.rw, resources = [local.lake_objects["reviews"]] },
        local.lake_kms_read_write,
        local.complete_tasks,
      ], local.late_answers)
    }

    iterations = {
      description = "Iterations API: start one (refused while one runs), list them, read one with its audit record"
      environment = local.loop_environment
      policy_statements = [
        { sid = "StartAndListIterations", actions = ["states:StartExecution", "states:ListExecutions"], resources = [local.iteration_state_machine_arn] },
        { sid = "DescribeIterations", actions = ["states:DescribeExecution"], resources = [local.iteration_executions_arn] },
        # The lock is taken before StartExecution (two quick starts cannot both pass) and
        # given back when StartExecution fails.
        { sid = "TakeLock", actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"], resources = [aws_dynamodb_table.registry.arn] },
        local.registry_kms,
        local.list_lake,
        { sid = "ReadAudit", actions = local.s3.read, resources = [local.lake_objects["audit"]] },
        local.lake_kms_read,
      ]
    }

    models = {
      description = "Models API: the active model, the promotion history, and rollback to a named version"
      environment = local.loop_environment
      policy_statements = concat([
        local.pointer_write,
        { sid = "Registry", actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"], resources = [aws_dynamodb_table.registry.arn] },
        local.registry_kms,
        local.list_lake,
        { sid = "ReadModels", actions = local.s3.read, resources = [local.lake_objects["models"]] },
        # The rollback's audit record, written once (a conditional PutObject).
        { sid = "WriteRollbackAudit", actions = local.s3.write, resources = [local.lake_objects["audit"]] },
        local.lake_kms_read_write,
        { sid = "NotifyRollback", actions = ["sns:Publish"], resources = [aws_sns_topic.notifications.arn] },
        { sid = "EncryptNotifications", actions = ["kms:GenerateDataKey", "kms:Decrypt"], resources = [aws_kms_key.this.arn], conditions = [{ test = "StringEquals", variable = "kms:ViaService", values = ["sns.${local.region}.amazonaws.com"] }] },
        ], local.comprehend_update_endpoint, [
        # A rollback to a version a flywheel trained moves that flywheel's ActiveModelArn back,
        # and the endpoint reads the (key-encrypted) version through the data access role.
        for statement in [{
          sid       = "MoveFlywheelActiveModel"
          actions   = ["comprehend:UpdateFlywheel"]
          resources = local.comprehend_flywheel_arns
          },
          local.pass_comprehend_role,
        ] : statement if local.use_comprehend
      ])
    }
  }
}

################################################################################
# Registry: the per-model iteration lock and the history of promotions and rollbacks
################################################################################

resource "aws_dynamodb_table" "registry" {
  name         = "${local.name}-registry"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  # A crashed iteration's lock expires by itself (the lock item carries expires_at).
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this.arn
  }

  deletion_protection_enabled = var.registry_deletion_protection

  tags = local.tags
}

################################################################################
# Schedules: an EventBridge rule per model type starts its iterations (a second start of the
# same model type is refused by its lock)
################################################################################

data "aws_iam_policy_document" "schedule_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
  }
}

locals {
  # One rule per model type; the short names are those of iteration ids (api/iterations.py).
  schedule_short = { DOCUMENT_CLASSIFIER = "doc", ENTITY_RECOGNIZER = "ner" }
}

resource "aws_iam_role" "schedule" {
  count = length(var.iteration_schedules) == 0 ? 0 : 1

  name               = "${local.name}-iteration-schedule"
  assume_role_policy = data.aws_iam_policy_document.schedule_assume.json

  tags = local.tags
}

resource "aws_iam_role_policy" "schedule" {
  count = length(var.iteration_schedules) == 0 ? 0 : 1

  name = "start-iterations"
  role = aws_iam_role.schedule[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "states:StartExecution"
      Resource = module.state_machine["iteration"].arn
    }]
  })
}

resource "aws_cloudwatch_event_rule" "iteration_schedule" {
  for_each = var.iteration_schedules

  name                = "${local.name}-iteration-schedule-${local.schedule_short[each.key]}"
  description         = coalesce(each.value.description, "Starts an active-learning iteration of the ${each.key}")
  schedule_expression = each.value.expression
  state               = each.value.enabled ? "ENABLED" : "DISABLED"

  tags = local.tags
}

resource "aws_cloudwatch_event_target" "iteration_schedule" {
  for_each = var.iteration_schedules

  rule     = aws_cloudwatch_event_rule.iteration_schedule[each.key].name
  arn      = module.state_machine["iteration"].arn
  role_arn = aws_iam_role.schedule[0].arn
  # A valid iteration input (schemas/iteration-input.v1.json); the trigger goes into the audit.
  # Each model type has its own lock, so the two schedules never refuse each other.
  input = jsonencode({ model_type = each.key, trigger = "schedule" })
}

################################################################################
# Amazon A2I (review_backend = "a2i"): human task UI, flow definition, status-change callback
################################################################################

data "aws_iam_policy_document" "a2i_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "a2i" {
  count = local.use_a2i ? 1 : 0

  name               = "${local.name}-a2i"
  assume_role_policy = data.aws_iam_policy_document.a2i_assume.json

  tags = local.tags
}

resource "aws_iam_role_policy" "a2i" {
  count = local.use_a2i ? 1 : 0

  name = "human-loop-output"
  role = aws_iam_role.a2i[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject"]
        Resource = "${module.data_lake.bucket_arn}/${local.a2i_output_prefix}*"
      },
      {
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = module.data_lake.kms_key_arn
        Condition = { StringEquals = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" } }
      },
    ]
  })
}

# Worker templates: templates/<template>.liquid.html, rendered in tests/unit/test_worker_templates.py
# against the input domain/reviews.py builds for A2I.
resource "aws_sagemaker_human_task_ui" "review" {
  for_each = local.a2i_reviews

  human_task_ui_name = "${local.name}-${each.value.template}"

  ui_template {
    content = file("${path.module}/templates/${each.value.template}.liquid.html")
  }

  tags = local.tags
}

moved {
  from = aws_sagemaker_human_task_ui.review[0]
  to   = aws_sagemaker_human_task_ui.review["DOCUMENT_CLASSIFIER"]
}

resource "aws_sagemaker_flow_definition" "review" {
  for_each = local.a2i_reviews

  flow_definition_name = "${local.name}-${each.value.flow}"
  role_arn             = aws_iam_role.a2i[0].arn

  human_loop_config {
    human_task_ui_arn                     = aws_sagemaker_human_task_ui.review[each.key].arn
    task_availability_lifetime_in_seconds = var.a2i_task_availability_seconds
    task_count                            = 1
    task_description                      = each.value.description
    task_title                            = each.value.title
    workteam_arn                          = var.a2i_workteam_arn
  }

  output_config {
    s3_output_path = "s3://${module.data_lake.bucket_name}/${local.a2i_output_prefix}"
    kms_key_id     = module.data_lake.kms_key_arn
  }

  tags = local.tags

  lifecycle {
    precondition {
      condition     = var.a2i_workteam_arn != null
      error_message = "review_backend = \"a2i\" needs a2i_workteam_arn (a private or vendor work team)."
    }
  }
}

moved {
  from = aws_sagemaker_flow_definition.review[0]
  to   = aws_sagemaker_flow_definition.review["DOCUMENT_CLASSIFIER"]
}

resource "aws_cloudwatch_event_rule" "a2i_status" {
  count = local.use_a2i ? 1 : 0

  name        = "${local.name}-a2i-status"
  description = "A2I human loops of this stack ended: complete their review batches"
  event_pattern = jsonencode({
    source        = ["aws.sagemaker"]
    "detail-type" = ["SageMaker A2I HumanLoop Status Change"]
    detail = {
      flowDefinitionArn = [for flow in aws_sagemaker_flow_definition.review : flow.arn]
      humanLoopStatus   = ["Completed", "Failed", "Stopped"]
    }
  })

  tags = local.tags
}

resource "aws_cloudwatch_event_target" "a2i_status" {
  count = local.use_a2i ? 1 : 0

  rule = aws_cloudwatch_event_rule.a2i_status[0].name
  arn  = module.lambda_function["a2i_callback"].arn
}

resource "aws_lambda_permission" "a2i_status" {
  count = local.use_a2i ? 1 : 0

  statement_id  = "AllowA2IStatusEvents"
  action        = "lambda:InvokeFunction"
  function_name = module.lambda_function["a2i_callback"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.a2i_status[0].arn
}

################################################################################
# Amazon Comprehend (model_backend = "comprehend"): the role Comprehend assumes to read data
################################################################################

data "aws_iam_policy_document" "comprehend_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["comprehend.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "comprehend" {
  count = local.use_comprehend ? 1 : 0

  name               = "${local.name}-comprehend-data"
  assume_role_policy = data.aws_iam_policy_document.comprehend_assume.json

  tags = local.tags
}

resource "aws_iam_role_policy" "comprehend" {
  count = local.use_comprehend ? 1 : 0

  name = "training-data"
  role = aws_iam_role.comprehend[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Effect = "Allow", Action = "s3:GetObject", Resource = local.lake_objects["datasets"] },
      { Effect = "Allow", Action = "s3:PutObject", Resource = local.lake_objects["models"] },
      { Effect = "Allow", Action = "s3:ListBucket", Resource = module.data_lake.bucket_arn },
      {
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = module.data_lake.kms_key_arn
        Condition = { StringEquals = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" } }
      },
      # Flywheel versions are encrypted with the data lake key (ModelKmsKeyId): batch jobs and
      # the endpoint read them through this role.
      {
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:CreateGrant", "kms:DescribeKey"]
        Resource  = module.data_lake.kms_key_arn
        Condition = { StringEquals = { "kms:ViaService" = "comprehend.${local.region}.amazonaws.com" } }
      },
    ]
  })
}

################################################################################
# Comprehend flywheels (comprehend_training = "flywheel"): the role a flywheel assumes to read
# the data sets textloop gives it and to keep its own data lake
################################################################################

resource "aws_iam_role" "comprehend_flywheel" {
  count = local.use_comprehend ? 1 : 0

  name               = "${local.name}-comprehend-flywheel"
  assume_role_policy = data.aws_iam_policy_document.comprehend_assume.json

  tags = local.tags
}

resource "aws_iam_role_policy" "comprehend_flywheel" {
  count = local.use_comprehend ? 1 : 0

  name = "flywheel-data"
  role = aws_iam_role.comprehend_flywheel[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Effect = "Allow", Action = "s3:GetObject", Resource = local.flywheel_dataset_objects },
      # Comprehend organises the flywheel's data lake itself (document and annotation pools,
      # one folder per model version).
      { Effect = "Allow", Action = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], Resource = local.lake_objects["flywheels"] },
      {
        Effect    = "Allow"
        Action    = "s3:ListBucket"
        Resource  = module.data_lake.bucket_arn
        Condition = { StringLike = { "s3:prefix" = ["${module.data_lake.prefixes["flywheels"]}*", "${module.data_lake.prefixes["datasets"]}flywheel/*"] } }
      },
      {
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = module.data_lake.kms_key_arn
        Condition = { StringEquals = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" } }
      },
      # The models and training volumes the flywheel encrypts with the same key.
      {
        Effect    = "Allow"
        Action    = ["kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
        Resource  = module.data_lake.kms_key_arn
        Condition = { StringEquals = { "kms:ViaService" = "comprehend.${local.region}.amazonaws.com" } }
      },
    ]
  })
}
