/* Every failure path of the C API: a status or failure value and a message naming the
 * function, never a crash, and every object still usable afterwards.
 *
 * usage: errors MODEL.gguf SCRATCH_DIR    (MODEL: i2s-b158.gguf, whose n_ctx pads to 32) */
#include "check.h"

static bool stop_loading(float progress, void *user_data) {
    (void)progress;
    ++*(int *)user_data;
    return false;
}

static bool abort_decode(void *data) {
    ++*(int *)data;
    return true;
}

static int log_warnings = 0;

static void count_warnings(bitnet_log_level level, const char *text, void *user_data) {
    CHECK(text != NULL && user_data == &log_warnings);
    if (level == BITNET_LOG_LEVEL_WARN && strstr(text, "BOS")) ++log_warnings;
}

/* The log callback receives the library's messages: a prompt that already starts with BOS
 * gets a second one, with a warning. */
static void logging(const bitnet_model *model) {
    const char *text = "<|begin_of_text|>Hi";
    bitnet_token ids[8];
    bitnet_log_set(count_warnings, &log_warnings);
    CHECK(bitnet_tokenize(model, text, (int32_t)strlen(text), ids, 8, true, true) >= 3);
    bitnet_log_set(NULL, NULL);
    CHECK(log_warnings == 1);
    CHECK(ids[0] == ids[1] && ids[0] == bitnet_model_token_bos(model));
    printf("ok logging\n");
}

static void loading(const char *model_path, const char *scratch) {
    bitnet_model *model = (bitnet_model *)&model; /* must be reset to NULL on failure */
    const char *missing = "/nonexistent-dir/missing.gguf";
    CHECK_STATUS(bitnet_model_load(missing, NULL, &model), BITNET_ERR_IO);
    CHECK(model == NULL);
    CHECK_ERROR("bitnet_model_load", missing);

    char garbage[512];
    snprintf(garbage, sizeof garbage, "%s/garbage.gguf", scratch);
    FILE *f = fopen(garbage, "wb");
    CHECK(f != NULL);
    fputs("this is not a GGUF file, just a few garbage bytes", f);
    fclose(f);
    CHECK_STATUS(bitnet_model_load(garbage, NULL, &model), BITNET_ERR_FORMAT);
    CHECK_ERROR("bitnet_model_load", garbage);

    int calls = 0;
    bitnet_model_params params = bitnet_model_default_params();
    params.progress_callback = stop_loading;
    params.progress_callback_user_data = &calls;
    CHECK_STATUS(bitnet_model_load(model_path, &params, &model), BITNET_ERR_CANCELLED);
    CHECK(calls == 1 && model == NULL);
    CHECK_ERROR("bitnet_model_load", "cancelled");

    /* read into memory instead of mapped, with a forced pre-tokenizer */
    params = bitnet_model_default_params();
    params.use_mmap = false;
    params.pre_tokenizer = BITNET_PRE_TOKENIZER_DEFAULT;
    CHECK_STATUS(bitnet_model_load(model_path, &params, &model), BITNET_OK);
    CHECK(bitnet_model_n_vocab(model) > 0);
    bitnet_model_free(model);

    params = bitnet_model_default_params();
    params.pre_tokenizer = 99;
    CHECK_STATUS(bitnet_model_load(model_path, &params, &model), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_ERROR("bitnet_model_load", "pre_tokenizer");

    /* the LM head: exact by default, int8 on request, anything else refused */
    params = bitnet_model_default_params();
    CHECK(params.lm_head == BITNET_LM_HEAD_EXACT);
    params.lm_head = 2;
    CHECK_STATUS(bitnet_model_load(model_path, &params, &model), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(model == NULL);
    CHECK_ERROR("bitnet_model_load", "lm_head 2 is not a bitnet_lm_head");
    params.lm_head = BITNET_LM_HEAD_INT8;
    CHECK_STATUS(bitnet_model_load(model_path, &params, &model), BITNET_OK);
    {
        bitnet_context *ctx = NULL;
        bitnet_token tok = 1;
        CHECK_STATUS(bitnet_context_new(model, NULL, &ctx), BITNET_OK);
        CHECK_STATUS(bitnet_decode(ctx, &tok, 1, NULL, NULL), BITNET_OK);
        CHECK(bitnet_get_logits(ctx, 0) != NULL);
        bitnet_context_free(ctx);
    }
    bitnet_model_free(model);
    model = NULL;

    CHECK_STATUS(bitnet_model_load(NULL, NULL, &model), BITNET_ERR_NULL_POINTER);
    CHECK_ERROR("bitnet_model_load", "path");
    CHECK_STATUS(bitnet_model_load(model_path, NULL, NULL), BITNET_ERR_NULL_POINTER);
    CHECK_ERROR("bitnet_model_load", "out");
    printf("ok loading\n");
}

static void model_getters(const bitnet_model *model) {
    char buf[64];
    CHECK(bitnet_model_n_vocab(NULL) == -1);
    CHECK_ERROR("bitnet_model_n_vocab", "model is NULL");
    CHECK(bitnet_model_n_ctx_train(NULL) == -1);
    CHECK_ERROR("bitnet_model_n_ctx_train", NULL);
    CHECK(bitnet_model_n_embd(NULL) == -1);
    CHECK_ERROR("bitnet_model_n_embd", NULL);
    CHECK(bitnet_model_n_layer(NULL) == -1);
    CHECK_ERROR("bitnet_model_n_layer", NULL);
    CHECK(bitnet_model_n_head(NULL) == -1);
    CHECK_ERROR("bitnet_model_n_head", NULL);
    CHECK(bitnet_model_n_head_kv(NULL) == -1);
    CHECK_ERROR("bitnet_model_n_head_kv", NULL);
    CHECK(bitnet_model_n_params(NULL) == 0);
    CHECK_ERROR("bitnet_model_n_params", NULL);
    CHECK(bitnet_model_size(NULL) == 0);
    CHECK_ERROR("bitnet_model_size", NULL);
    CHECK(bitnet_model_desc(NULL, buf, sizeof buf) == -1);
    CHECK_ERROR("bitnet_model_desc", NULL);
    CHECK(bitnet_model_desc(model, NULL, 8) == -1);
    CHECK_ERROR("bitnet_model_desc", "buf is NULL");
    CHECK(bitnet_model_token_bos(NULL) == -1);
    CHECK_ERROR("bitnet_model_token_bos", NULL);
    CHECK(bitnet_model_token_eos(NULL) == -1);
    CHECK_ERROR("bitnet_model_token_eos", NULL);
    CHECK(bitnet_model_token_eot(NULL) == -1);
    CHECK_ERROR("bitnet_model_token_eot", NULL);
    CHECK(!bitnet_model_token_is_eog(NULL, 0));
    CHECK_ERROR("bitnet_model_token_is_eog", NULL);
    CHECK(!bitnet_model_token_is_eog(model, -1));
    CHECK_ERROR("bitnet_model_token_is_eog", "negative");
    CHECK(bitnet_model_chat_template(NULL) == NULL);
    CHECK_ERROR("bitnet_model_chat_template", NULL);

    /* snprintf semantics: full length back, truncated NUL-terminated copy */
    int32_t full = bitnet_model_desc(model, NULL, 0);
    CHECK(full > 4);
    memset(buf, 'x', sizeof buf);
    CHECK(bitnet_model_desc(model, buf, 4) == full && strlen(buf) == 3);
    CHECK(bitnet_model_meta_val_str(model, "general.architecture", buf, 4) ==
          (int32_t)strlen("bitnet-b1.58"));
    CHECK(strcmp(buf, "bit") == 0);
    CHECK(bitnet_model_meta_val_str(model, "no.such.key", buf, sizeof buf) == -1);
    CHECK_ERROR("bitnet_model_meta_val_str", "no.such.key");
    CHECK(bitnet_model_meta_val_str(NULL, "general.architecture", buf, sizeof buf) == -1);
    CHECK_ERROR("bitnet_model_meta_val_str", "model is NULL");
    CHECK(bitnet_model_meta_val_str(model, NULL, buf, sizeof buf) == -1);
    CHECK_ERROR("bitnet_model_meta_val_str", "key is NULL");
    CHECK(bitnet_model_meta_val_str(model, "general.architecture", NULL, 4) == -1);
    CHECK_ERROR("bitnet_model_meta_val_str", "buf is NULL");
    printf("ok model getters\n");
}

static void tokens(const bitnet_model *model) {
    const char *text = "We will meet at the station at nine.";
    int32_t len = (int32_t)strlen(text);
    bitnet_token ids[64];
    CHECK(bitnet_tokenize(NULL, text, len, ids, 64, true, false) == BITNET_COUNT_FAILED);
    CHECK_ERROR("bitnet_tokenize", "model is NULL");
    CHECK(bitnet_tokenize(model, NULL, len, ids, 64, true, false) == BITNET_COUNT_FAILED);
    CHECK_ERROR("bitnet_tokenize", "text is NULL");
    CHECK(bitnet_tokenize(model, text, -1, ids, 64, true, false) == BITNET_COUNT_FAILED);
    CHECK_ERROR("bitnet_tokenize", "text_len is negative");
    CHECK(bitnet_tokenize(model, text, len, ids, -1, true, false) == BITNET_COUNT_FAILED);
    CHECK_ERROR("bitnet_tokenize", "n_tokens_max is negative");
    CHECK(bitnet_tokenize(model, text, len, NULL, 64, true, false) == BITNET_COUNT_FAILED);
    CHECK_ERROR("bitnet_tokenize", "tokens is NULL");
    CHECK(bitnet_tokenize(model, "a\xff", 2, ids, 64, true, false) == BITNET_COUNT_FAILED);
    CHECK_ERROR("bitnet_tokenize", "UTF-8");
    /* text need not be NUL-terminated; an empty text needs no pointer */
    CHECK(bitnet_tokenize(model, NULL, 0, ids, 64, false, false) == 0);
    CHECK(bitnet_tokenize(model, "We!!!", 2, ids, 64, false, false) == 1);

    /* short buffers: minus the needed size, nothing written */
    CHECK(bitnet_tokenize(model, text, len, NULL, 0, true, false) == -12);
    ids[0] = -7;
    CHECK(bitnet_tokenize(model, text, len, ids, 4, true, false) == -12);
    CHECK(ids[0] == -7);
    CHECK(bitnet_tokenize(model, text, len, ids, 12, true, false) == 12);

    int32_t n_vocab = bitnet_model_n_vocab(model);
    char piece[8];
    CHECK(bitnet_token_to_piece(model, n_vocab, piece, 8, 0, false) == BITNET_COUNT_FAILED);
    CHECK_ERROR("bitnet_token_to_piece", "out of range");
    CHECK(bitnet_token_to_piece(model, -1, piece, 8, 0, false) == BITNET_COUNT_FAILED);
    CHECK_ERROR("bitnet_token_to_piece", "negative");
    CHECK(bitnet_token_to_piece(NULL, 1, piece, 8, 0, false) == BITNET_COUNT_FAILED);
    CHECK_ERROR("bitnet_token_to_piece", "model is NULL");
    CHECK(bitnet_token_to_piece(model, 1, NULL, 8, 0, false) == BITNET_COUNT_FAILED);
    CHECK_ERROR("bitnet_token_to_piece", "buf is NULL");
    CHECK(bitnet_token_to_piece(model, 1, piece, -8, 0, false) == BITNET_COUNT_FAILED);
    CHECK_ERROR("bitnet_token_to_piece", "length is negative");
    /* ids[2] is " will": 5 bytes, 4 with lstrip */
    CHECK(bitnet_token_to_piece(model, ids[2], NULL, 0, 0, false) == -5);
    CHECK(bitnet_token_to_piece(model, ids[2], piece, 4, 0, false) == -5);
    CHECK(bitnet_token_to_piece(model, ids[2], piece, 4, 1, false) == 4);
    CHECK(memcmp(piece, "will", 4) == 0);

    char out[64];
    int32_t full = bitnet_detokenize(model, ids, 12, NULL, 0, true, false);
    CHECK(full == -len);
    CHECK(bitnet_detokenize(model, ids, 12, out, 10, true, false) == -len);
    CHECK(bitnet_detokenize(model, ids, 12, out, len, true, false) == len); /* no NUL room */
    bitnet_token bad[2] = {ids[1], n_vocab};
    CHECK(bitnet_detokenize(model, bad, 2, out, 64, false, false) == BITNET_COUNT_FAILED);
    CHECK_ERROR("bitnet_detokenize", "out of range");
    CHECK(bitnet_detokenize(model, NULL, 2, out, 64, false, false) == BITNET_COUNT_FAILED);
    CHECK_ERROR("bitnet_detokenize", "tokens is NULL");
    CHECK(bitnet_detokenize(model, ids, -1, out, 64, false, false) == BITNET_COUNT_FAILED);
    CHECK_ERROR("bitnet_detokenize", "n_tokens is negative");
    CHECK(bitnet_detokenize(NULL, ids, 2, out, 64, false, false) == BITNET_COUNT_FAILED);
    CHECK_ERROR("bitnet_detokenize", "model is NULL");
    CHECK(bitnet_detokenize(model, NULL, 0, out, 64, false, false) == 0 && out[0] == '\0');
    printf("ok tokens\n");
}

static bitnet_context *new_context(const bitnet_model *model, uint32_t n_ctx) {
    bitnet_context_params params = bitnet_context_default_params();
    params.n_ctx = n_ctx;
    params.n_threads = 2;
    bitnet_context *ctx = NULL;
    CHECK_STATUS(bitnet_context_new(model, &params, &ctx), BITNET_OK);
    return ctx;
}

static void context_arguments(const bitnet_model *model) {
    bitnet_context *ctx = (bitnet_context *)&ctx;
    CHECK_STATUS(bitnet_context_new(NULL, NULL, &ctx), BITNET_ERR_NULL_POINTER);
    CHECK(ctx == NULL);
    CHECK_ERROR("bitnet_context_new", "model is NULL");
    CHECK_STATUS(bitnet_context_new(model, NULL, NULL), BITNET_ERR_NULL_POINTER);
    CHECK_ERROR("bitnet_context_new", "out is NULL");
    bitnet_context_params params = bitnet_context_default_params();
    params.n_batch = 0;
    CHECK_STATUS(bitnet_context_new(model, &params, &ctx), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(ctx == NULL);
    CHECK_ERROR("bitnet_context_new", "n_batch");

    CHECK(bitnet_context_n_ctx(NULL) == 0);
    CHECK_ERROR("bitnet_context_n_ctx", "ctx is NULL");
    CHECK(bitnet_context_n_batch(NULL) == 0);
    CHECK_ERROR("bitnet_context_n_batch", NULL);
    CHECK(bitnet_context_pos_max(NULL) == -1);
    CHECK_ERROR("bitnet_context_pos_max", NULL);
    CHECK(bitnet_context_model(NULL) == NULL);
    CHECK_ERROR("bitnet_context_model", NULL);
    bitnet_context_clear(NULL);
    CHECK_ERROR("bitnet_context_clear", NULL);
    CHECK_STATUS(bitnet_context_set_abort_callback(NULL, NULL, NULL), BITNET_ERR_NULL_POINTER);
    CHECK_ERROR("bitnet_context_set_abort_callback", NULL);
    CHECK(bitnet_get_logits(NULL, 0) == NULL);
    CHECK_ERROR("bitnet_get_logits", NULL);
    bitnet_token one = 1;
    CHECK_STATUS(bitnet_decode(NULL, &one, 1, NULL, NULL), BITNET_ERR_NULL_POINTER);
    CHECK_ERROR("bitnet_decode", "ctx is NULL");
    printf("ok context arguments\n");
}

static void decoding(const bitnet_model *model) {
    bitnet_context *ctx = new_context(model, 64);
    int32_t n_vocab = bitnet_model_n_vocab(model);
    bitnet_token two[2] = {1, 2};
    CHECK_STATUS(bitnet_decode(ctx, NULL, 2, NULL, NULL), BITNET_ERR_NULL_POINTER);
    CHECK_ERROR("bitnet_decode", "tokens is NULL");
    CHECK_STATUS(bitnet_decode(ctx, two, 0, NULL, NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_ERROR("bitnet_decode", "n_tokens is 0");
    CHECK_STATUS(bitnet_decode(ctx, two, -2, NULL, NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_ERROR("bitnet_decode", "n_tokens is negative");
    bitnet_token bad[2] = {1, n_vocab};
    CHECK_STATUS(bitnet_decode(ctx, bad, 2, NULL, NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_ERROR("bitnet_decode", "outside the vocabulary");
    bad[1] = -3;
    CHECK_STATUS(bitnet_decode(ctx, bad, 2, NULL, NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_ERROR("bitnet_decode", "negative token id");
    int32_t pos[2] = {0, -1};
    CHECK_STATUS(bitnet_decode(ctx, two, 2, pos, NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_ERROR("bitnet_decode", "position");
    CHECK(bitnet_context_pos_max(ctx) == -1);

    /* the context still works; only the last row was requested */
    CHECK_STATUS(bitnet_decode(ctx, two, 2, NULL, NULL), BITNET_OK);
    CHECK(bitnet_context_pos_max(ctx) == 1);
    CHECK(bitnet_get_logits(ctx, 1) != NULL && bitnet_get_logits(ctx, -1) != NULL);
    CHECK(bitnet_get_logits(ctx, 0) == NULL);
    CHECK_ERROR("bitnet_get_logits", "not requested");
    CHECK(bitnet_get_logits(ctx, 2) == NULL);
    CHECK_ERROR("bitnet_get_logits", "no token 2");
    CHECK(bitnet_get_logits(ctx, -3) == NULL);
    CHECK_ERROR("bitnet_get_logits", "no token -3");
    int8_t first_only[2] = {1, 0};
    CHECK_STATUS(bitnet_decode(ctx, two, 2, NULL, first_only), BITNET_OK);
    CHECK(bitnet_get_logits(ctx, 0) != NULL && bitnet_get_logits(ctx, -1) == NULL);

    /* abort: the callback stops the decode, the cache is unchanged, removing it recovers */
    int aborts = 0;
    CHECK_STATUS(bitnet_context_set_abort_callback(ctx, abort_decode, &aborts), BITNET_OK);
    CHECK_STATUS(bitnet_decode(ctx, two, 1, NULL, NULL), BITNET_ERR_ABORTED);
    CHECK(aborts >= 1 && bitnet_context_pos_max(ctx) == 3);
    CHECK_ERROR("bitnet_decode", "abort");
    CHECK_STATUS(bitnet_context_set_abort_callback(ctx, NULL, NULL), BITNET_OK);
    CHECK_STATUS(bitnet_decode(ctx, two, 1, NULL, NULL), BITNET_OK);
    CHECK(bitnet_context_pos_max(ctx) == 4);
    bitnet_context_free(ctx);

    /* the same through the creation parameters */
    aborts = 0;
    bitnet_context_params params = bitnet_context_default_params();
    params.n_ctx = 32;
    params.abort_callback = abort_decode;
    params.abort_callback_data = &aborts;
    CHECK_STATUS(bitnet_context_new(model, &params, &ctx), BITNET_OK);
    CHECK_STATUS(bitnet_decode(ctx, two, 2, NULL, NULL), BITNET_ERR_ABORTED);
    CHECK(aborts >= 1 && bitnet_context_pos_max(ctx) == -1);
    bitnet_context_free(ctx);
    printf("ok decoding\n");
}

static void context_full(const bitnet_model *model) {
    bitnet_context *ctx = new_context(model, 32);
    CHECK(bitnet_context_n_ctx(ctx) == 32 && bitnet_context_n_batch(ctx) == 32);
    bitnet_token ids[33];
    for (int i = 0; i < 33; i++) ids[i] = 100 + i;
    CHECK_STATUS(bitnet_decode(ctx, ids, 33, NULL, NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_ERROR("bitnet_decode", "n_batch");
    CHECK_STATUS(bitnet_decode(ctx, ids, 32, NULL, NULL), BITNET_OK);
    CHECK(bitnet_context_pos_max(ctx) == 31);
    CHECK_STATUS(bitnet_decode(ctx, ids, 1, NULL, NULL), BITNET_ERR_CONTEXT_FULL);
    CHECK_ERROR("bitnet_decode", "context full");
    CHECK(bitnet_context_pos_max(ctx) == 31);
    bitnet_context_clear(ctx);
    CHECK(bitnet_context_pos_max(ctx) == -1 && bitnet_get_logits(ctx, -1) == NULL);
    CHECK_STATUS(bitnet_decode(ctx, ids, 1, NULL, NULL), BITNET_OK);
    CHECK(bitnet_get_logits(ctx, -1) != NULL);
    bitnet_context_free(ctx);
    printf("ok context full\n");
}

static void samplers(const bitnet_model *model) {
    bitnet_context *ctx = new_context(model, 32);
    bitnet_token two[2] = {1, 2};
    CHECK_STATUS(bitnet_decode(ctx, two, 2, NULL, NULL), BITNET_OK);

    bitnet_sampler *greedy = bitnet_sampler_new_greedy();
    CHECK(bitnet_sampler_sample(NULL, ctx, -1) == -1);
    CHECK_ERROR("bitnet_sampler_sample", "sampler is NULL");
    CHECK(bitnet_sampler_sample(greedy, NULL, -1) == -1);
    CHECK_ERROR("bitnet_sampler_sample", "ctx is NULL");
    CHECK(bitnet_sampler_sample(greedy, ctx, 0) == -1);
    CHECK_ERROR("bitnet_sampler_sample", "not requested");
    CHECK(bitnet_sampler_sample(greedy, ctx, 5) == -1);
    CHECK_ERROR("bitnet_sampler_sample", "no token 5");
    bitnet_token best = bitnet_sampler_sample(greedy, ctx, 1);
    CHECK(best >= 0 && bitnet_sampler_sample(greedy, ctx, -1) == best);

    /* a filter alone selects nothing */
    bitnet_sampler *top_k = bitnet_sampler_new_top_k(5);
    CHECK(bitnet_sampler_sample(top_k, ctx, -1) == -1);
    CHECK_ERROR("bitnet_sampler_sample", "selected no token");

    /* chains: only chains take samplers, never themselves; the added sampler is owned by
     * the chain (or freed) whatever the outcome */
    bitnet_sampler *chain = bitnet_sampler_chain_new();
    CHECK(bitnet_sampler_sample(chain, ctx, -1) == -1);
    CHECK_ERROR("bitnet_sampler_sample", "selected no token");
    CHECK_STATUS(bitnet_sampler_chain_add(greedy, bitnet_sampler_new_greedy()),
                 BITNET_ERR_INVALID_ARGUMENT);
    CHECK_ERROR("bitnet_sampler_chain_add", "single sampler");
    CHECK_STATUS(bitnet_sampler_chain_add(chain, chain), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_ERROR("bitnet_sampler_chain_add", "itself");
    CHECK_STATUS(bitnet_sampler_chain_add(NULL, bitnet_sampler_new_greedy()),
                 BITNET_ERR_NULL_POINTER);
    CHECK_ERROR("bitnet_sampler_chain_add", "chain is NULL");
    CHECK_STATUS(bitnet_sampler_chain_add(chain, NULL), BITNET_ERR_NULL_POINTER);
    CHECK_ERROR("bitnet_sampler_chain_add", "sampler is NULL");
    CHECK_STATUS(bitnet_sampler_chain_add(chain, top_k), BITNET_OK);
    CHECK_STATUS(bitnet_sampler_chain_add(chain, bitnet_sampler_new_temp(0.7f)), BITNET_OK);
    CHECK_STATUS(bitnet_sampler_chain_add(chain, bitnet_sampler_new_dist(1234)), BITNET_OK);

    /* a seed fixes the draws; reset restarts them */
    bitnet_token first = bitnet_sampler_sample(chain, ctx, -1);
    CHECK(first >= 0);
    bitnet_sampler_reset(chain);
    CHECK(bitnet_sampler_sample(chain, ctx, -1) == first);
    bitnet_sampler_params params = bitnet_sampler_default_params();
    CHECK(params.seed == BITNET_DEFAULT_SEED && params.top_k == 40);
    params.seed = 1234;
    bitnet_sampler *preset = bitnet_sampler_new_from_params(&params);
    params.seed = BITNET_DEFAULT_SEED;
    bitnet_sampler *preset_nested = bitnet_sampler_new_from_params(&params);
    CHECK(preset != NULL && preset_nested != NULL);
    bitnet_sampler *defaults = bitnet_sampler_new_from_params(NULL);
    CHECK(defaults != NULL && bitnet_sampler_sample(defaults, ctx, -1) >= 0);
    bitnet_sampler_free(defaults);
    CHECK(bitnet_sampler_sample(preset, ctx, -1) >= 0);
    CHECK_STATUS(bitnet_sampler_chain_add(preset, preset_nested), BITNET_OK);

    bitnet_sampler_accept(NULL, 1);
    CHECK_ERROR("bitnet_sampler_accept", "sampler is NULL");
    bitnet_sampler_accept(chain, -1);
    CHECK_ERROR("bitnet_sampler_accept", "negative");
    bitnet_sampler_accept(chain, 1);
    bitnet_sampler_reset(NULL);
    CHECK_ERROR("bitnet_sampler_reset", "sampler is NULL");

    bitnet_sampler *others[] = {
        bitnet_sampler_new_temp_ext(0.8f, 0.5f, 1.0f), bitnet_sampler_new_top_p(0.9f, 1),
        bitnet_sampler_new_min_p(0.05f, 1),            bitnet_sampler_new_typical(0.9f, 1),
        bitnet_sampler_new_penalties(64, 1.1f, 0.1f, 0.1f),
    };
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        CHECK(others[i] != NULL);
        CHECK(bitnet_sampler_sample(others[i], ctx, -1) == -1); /* filters select nothing */
        bitnet_sampler_free(others[i]);
    }

    bitnet_sampler_free(greedy);
    bitnet_sampler_free(chain);
    bitnet_sampler_free(preset);
    bitnet_sampler_free(NULL);
    bitnet_context_free(ctx);
    printf("ok samplers\n");
}

static void chat_errors(void) {
    bitnet_chat_message msgs[2] = {{"user", "hi"}, {NULL, "x"}};
    char buf[64];
    CHECK(bitnet_chat_apply_template("<|im_start|>", msgs, 1, true, buf, 64) == -1);
    CHECK_ERROR("bitnet_chat_apply_template", "chatml");
    CHECK(bitnet_chat_apply_template("llama3", msgs, 2, true, buf, 64) == -1);
    CHECK_ERROR("bitnet_chat_apply_template", "chat[1].role is NULL");
    CHECK(bitnet_chat_apply_template("llama3", NULL, 1, true, buf, 64) == -1);
    CHECK_ERROR("bitnet_chat_apply_template", "chat is NULL");
    CHECK(bitnet_chat_apply_template("llama3", msgs, 1, true, buf, -1) == -1);
    CHECK_ERROR("bitnet_chat_apply_template", "length is negative");
    CHECK(bitnet_chat_apply_template("llama3", msgs, 1, true, NULL, 4) == -1);
    CHECK_ERROR("bitnet_chat_apply_template", "buf is NULL");
    /* short buffer: the full length back and a truncated C string */
    int32_t n = bitnet_chat_apply_template("llama3", msgs, 1, true, buf, 8);
    CHECK(n > 8 && strlen(buf) == 7);
    CHECK(bitnet_chat_apply_template("llama3", msgs, 1, true, NULL, 0) == n);
    CHECK(bitnet_chat_apply_template("llama3", NULL, 0, false, buf, 64) == 0);

    const char *names[8];
    CHECK(bitnet_chat_builtin_templates(NULL, 0) == 3);
    CHECK(bitnet_chat_builtin_templates(names, 8) == 3 && strcmp(names[0], "bitnet") == 0);
    CHECK(bitnet_chat_builtin_templates(NULL, 2) == -1);
    CHECK_ERROR("bitnet_chat_builtin_templates", "output is NULL");
    printf("ok chat errors\n");
}

int main(int argc, char **argv) {
    CHECK(argc == 3);
    CHECK(strcmp(bitnet_last_error(), "") == 0);
    CHECK(strcmp(bitnet_status_str(BITNET_OK), "ok") == 0);
    CHECK(strcmp(bitnet_status_str(999), "unknown status") == 0);
    CHECK(strcmp(bitnet_status_str(-1), "unknown status") == 0);
    char version[32];
    snprintf(version, sizeof version, "%d.%d.%d", BITNET_VERSION_MAJOR, BITNET_VERSION_MINOR,
             BITNET_VERSION_PATCH);
    CHECK(strcmp(bitnet_version(), version) == 0);

    loading(argv[1], argv[2]);
    bitnet_model *model = NULL;
    CHECK_STATUS(bitnet_model_load(argv[1], NULL, &model), BITNET_OK);
    logging(model);
    model_getters(model);
    tokens(model);
    context_arguments(model);
    decoding(model);
    context_full(model);
    samplers(model);
    chat_errors();

    /* a context keeps the model alive after the model handle is freed */
    bitnet_context *ctx = new_context(model, 32);
    bitnet_model_free(model);
    const bitnet_model *kept = bitnet_context_model(ctx);
    CHECK(kept != NULL && bitnet_model_n_vocab(kept) > 0);
    bitnet_token bos = bitnet_model_token_bos(kept);
    CHECK_STATUS(bitnet_decode(ctx, &bos, 1, NULL, NULL), BITNET_OK);
    bitnet_context_free(ctx);

    bitnet_model_free(NULL);
    bitnet_context_free(NULL);
    bitnet_log_set(NULL, NULL);
    printf("ok frees\n");
    return 0;
}
