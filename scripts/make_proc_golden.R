# pROC golden values for cdbench's DeLong implementation (reports/delong.py).
#
#   Rscript scripts/make_proc_golden.R tests/data/proc_golden_cases.json tests/data/proc_golden.json
#
# Inputs: a JSON list of cases {name, y (0/1), a, b (scores)} written by scripts/make_proc_golden.py.
# Every ROC uses levels = c(0, 1) and direction = "<" (a higher score means class 1), so pROC never
# flips an AUC below 0.5. NaN, Inf and NA are written as the strings "NaN", "Inf", "-Inf", "NA".
suppressMessages({
  library(pROC)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: make_proc_golden.R CASES.json OUT.json")
cases <- fromJSON(args[1], simplifyVector = FALSE)

num <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else as.numeric(x)
safely <- function(expr) {
  msgs <- character(0)
  value <- withCallingHandlers(
    tryCatch(expr, error = function(e) { msgs <<- c(msgs, paste("error:", conditionMessage(e))); NULL }),
    warning = function(w) { msgs <<- c(msgs, paste("warning:", conditionMessage(w))); invokeRestart("muffleWarning") }
  )
  list(value = value, messages = msgs)
}

one_roc <- function(y, s) {
  r <- roc(response = y, predictor = s, levels = c(0, 1), direction = "<", quiet = TRUE)
  v <- safely(var(r, method = "delong"))
  ci <- safely(ci.auc(r, method = "delong", conf.level = 0.95))
  ci90 <- safely(ci.auc(r, method = "delong", conf.level = 0.90))
  list(
    roc = r,
    out = list(
      auc = as.numeric(auc(r)),
      var = num(v$value),
      ci_low = num(ci$value[1]), ci_high = num(ci$value[3]),
      ci90_low = num(ci90$value[1]), ci90_high = num(ci90$value[3]),
      messages = c(v$messages, ci$messages)
    )
  )
}

results <- list()
for (case in cases) {
  y <- as.numeric(unlist(case$y))
  a <- as.numeric(unlist(case$a))
  b <- as.numeric(unlist(case$b))
  ra <- one_roc(y, a)
  rb <- one_roc(y, b)
  cv <- safely(cov(ra$roc, rb$roc, method = "delong"))
  tt <- safely(roc.test(ra$roc, rb$roc, method = "delong", paired = TRUE, conf.level = 0.95))
  test <- list(statistic = NA_real_, p_value = NA_real_, estimate = c(NA_real_, NA_real_),
               ci_low = NA_real_, ci_high = NA_real_)
  if (!is.null(tt$value)) {
    test <- list(
      statistic = num(tt$value$statistic), p_value = num(tt$value$p.value),
      estimate = as.numeric(tt$value$estimate),
      ci_low = num(tt$value$conf.int[1]), ci_high = num(tt$value$conf.int[2])
    )
  }
  results[[length(results) + 1]] <- list(
    name = case$name, n_pos = sum(y == 1), n_neg = sum(y == 0),
    a = ra$out, b = rb$out, cov = num(cv$value),
    test = c(test, list(messages = c(cv$messages, tt$messages)))
  )
}

meta <- list(
  generator = "scripts/make_proc_golden.R",
  pROC = as.character(packageVersion("pROC")),
  R = R.version.string,
  settings = "roc(levels = c(0, 1), direction = '<'); var/ci.auc/cov/roc.test(method = 'delong', paired = TRUE)"
)
write_json(list(meta = meta, cases = results), args[2], auto_unbox = TRUE, digits = NA, na = "string",
           pretty = FALSE)
