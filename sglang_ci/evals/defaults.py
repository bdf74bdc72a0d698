"""Values of SGLang's eval clients that the CLI needs without importing an HTTP library
(a dry run imports no requests)."""

# httpx.Timeout(3600) of SGLang's LargerHttpxClient (python/sglang/test/
# simple_eval_common.py at 9040feebd8): connect, read, write and pool each.
SGLANG_REQUEST_TIMEOUT_S = 3600.0
