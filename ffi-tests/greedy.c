/* The C API end to end on a fixture model: tokenize the reference prompt, decode it, run
 * 32 greedy steps with a sampler chain and compare the 33 ids with the reference
 * implementation's (and with the argmax of the logits, and llama.cpp's default chain at
 * temperature 0); round-trip
 * the prompt through token_to_piece and detokenize; render a chat prompt.
 *
 * usage: greedy MODEL.gguf NAME    (NAME: i2s-b158 or tq2_0-bitnet, selects the reference) */
#include "check.h"

#define PROMPT "We will meet at the station at nine."
#define N_PROMPT 12
#define N_GEN 33

static const bitnet_token prompt_ids[N_PROMPT] = {4096, 1687, 690, 3449, 520, 279,
                                                  357,  367,  520, 308,  483, 13};

/* bitnet.cpp's greedy ids for i2s-b158.gguf, llama.cpp's for tq2_0-bitnet.gguf */
static const bitnet_token i2s_b158_ids[N_GEN] = {
    3906, 3906, 3906, 4208, 4208, 4208, 3154, 3376, 3376, 4102, 4102,
    4102, 4102, 4102, 4102, 4102, 1241, 693,  693,  693,  3384, 3384,
    3384, 3384, 3392, 3384, 3392, 3384, 1904, 1904, 1904, 1904, 3933};
static const bitnet_token tq2_0_ids[N_GEN] = {
    3582, 3582, 3582, 2348, 2348, 58,   58,   58,   58,   58,   2534,
    2534, 2534, 2534, 2327, 2327, 2327, 2327, 2327, 2327, 1604, 1604,
    463,  463,  463,  463,  463,  463,  463,  277,  277,  277,  277};

static float last_progress = -1.0f;

static bool on_progress(float progress, void *user_data) {
    int *calls = (int *)user_data;
    CHECK(progress >= last_progress && progress <= 1.0f);
    last_progress = progress;
    ++*calls;
    return true;
}

static bitnet_token argmax(const float *row, int32_t n) {
    bitnet_token best = 0;
    for (int32_t i = 1; i < n; i++) {
        if (row[i] > row[best]) best = i;
    }
    return best;
}

static void round_trip(const bitnet_model *model, const bitnet_token *ids, int32_t n) {
    char text[256];
    int32_t len = bitnet_detokenize(model, ids, n, text, sizeof text, true, false);
    CHECK(len == (int32_t)strlen(PROMPT));
    CHECK(memcmp(text, PROMPT, (size_t)len) == 0 && text[len] == '\0');

    /* piece by piece, skipping BOS (a control token renders as nothing without special) */
    char joined[256];
    int32_t at = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t k = bitnet_token_to_piece(model, ids[i], joined + at,
                                          (int32_t)sizeof joined - at, 0, false);
        CHECK(k >= 0);
        at += k;
    }
    CHECK(at == len && memcmp(joined, PROMPT, (size_t)at) == 0);

    char bos[32];
    int32_t k = bitnet_token_to_piece(model, ids[0], bos, sizeof bos, 0, true);
    CHECK(k == (int32_t)strlen("<|begin_of_text|>") && strcmp(bos, "<|begin_of_text|>") == 0);
    printf("ok round trip\n");
}

static void chat(const bitnet_model *model, bool llama3) {
    const char *tmpl = bitnet_model_chat_template(model);
    CHECK(tmpl != NULL);
    bitnet_chat_message msgs[2] = {{"system", "You are helpful."}, {"user", " Hi! "}};
    char buf[256];
    int32_t n = bitnet_chat_apply_template(tmpl, msgs, 2, true, buf, sizeof buf);
    /* i2s-b158 carries the BitNet 2B-4T placeholder template, tq2_0-bitnet a Llama-3 one */
    const char *want =
        llama3 ? "<|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n"
               : "System: You are helpful.<|eot_id|>User: Hi!<|eot_id|>Assistant: ";
    CHECK(n == (int32_t)strlen(want) && strcmp(buf, want) == 0);
    CHECK(bitnet_chat_apply_template(llama3 ? "llama3" : "bitnet", msgs, 2, true, buf,
                                     sizeof buf) == n);
    if (!llama3) {
        /* NULL selects the same BitNet model card format */
        CHECK(bitnet_chat_apply_template(NULL, msgs, 2, true, buf, sizeof buf) == n);
    }

    bitnet_token ids[64];
    int32_t k = bitnet_tokenize(model, buf, n, ids, 64, true, true);
    CHECK(k > 0);
    int32_t eot = bitnet_model_token_eot(model);
    int found = 0;
    for (int32_t i = 0; i < k; i++) found += ids[i] == eot;
    CHECK(found == 2 && bitnet_model_token_is_eog(model, eot));
    printf("ok chat\n");
}

int main(int argc, char **argv) {
    CHECK(argc == 3);
    const bitnet_token *expected = strcmp(argv[2], "i2s-b158") == 0       ? i2s_b158_ids
                                   : strcmp(argv[2], "tq2_0-bitnet") == 0 ? tq2_0_ids
                                                                          : NULL;
    CHECK(expected != NULL);

    int progress_calls = 0;
    bitnet_model_params mparams = bitnet_model_default_params();
    mparams.progress_callback = on_progress;
    mparams.progress_callback_user_data = &progress_calls;
    bitnet_model *model = NULL;
    CHECK_STATUS(bitnet_model_load(argv[1], &mparams, &model), BITNET_OK);
    CHECK(model != NULL && progress_calls >= 2 && last_progress == 1.0f);

    char desc[128];
    CHECK(bitnet_model_desc(model, desc, sizeof desc) > 0);
    char arch[64];
    CHECK(bitnet_model_meta_val_str(model, "general.architecture", arch, sizeof arch) > 0);
    int32_t n_vocab = bitnet_model_n_vocab(model);
    printf("model: %s (%s), %d tokens, %d layers\n", desc, arch, n_vocab,
           bitnet_model_n_layer(model));

    bitnet_token ids[64];
    int32_t n = bitnet_tokenize(model, PROMPT, (int32_t)strlen(PROMPT), ids, 64, true, false);
    CHECK(n == N_PROMPT);
    CHECK(memcmp(ids, prompt_ids, sizeof prompt_ids) == 0);
    CHECK(ids[0] == bitnet_model_token_bos(model));
    printf("ok tokenize\n");
    round_trip(model, ids, n);

    bitnet_context_params cparams = bitnet_context_default_params();
    cparams.n_ctx = 512;
    cparams.n_threads = 2;
    bitnet_context *ctx = NULL;
    CHECK_STATUS(bitnet_context_new(model, &cparams, &ctx), BITNET_OK);

    int8_t all_rows[N_PROMPT];
    memset(all_rows, 1, sizeof all_rows);
    CHECK_STATUS(bitnet_decode(ctx, ids, n, NULL, all_rows), BITNET_OK);
    for (int32_t i = 0; i < n; i++) CHECK(bitnet_get_logits(ctx, i) != NULL);
    CHECK(bitnet_get_logits(ctx, -1) == bitnet_get_logits(ctx, n - 1));

    /* a hand-built greedy chain (the filters before greedy cannot change its pick) and
     * the default chain at temperature 0 */
    bitnet_sampler *chain = bitnet_sampler_chain_new();
    CHECK(chain != NULL);
    CHECK_STATUS(bitnet_sampler_chain_add(chain, bitnet_sampler_new_penalties(64, 1.0f, 0, 0)),
                 BITNET_OK);
    CHECK_STATUS(bitnet_sampler_chain_add(chain, bitnet_sampler_new_top_k(40)), BITNET_OK);
    CHECK_STATUS(bitnet_sampler_chain_add(chain, bitnet_sampler_new_greedy()), BITNET_OK);
    bitnet_sampler_params sparams = bitnet_sampler_default_params();
    sparams.temp = 0.0f;
    bitnet_sampler *preset = bitnet_sampler_new_from_params(&sparams);
    CHECK(preset != NULL);

    bitnet_token generated[N_GEN];
    for (int step = 0; step < N_GEN; step++) {
        if (step > 0) {
            CHECK_STATUS(bitnet_decode(ctx, &generated[step - 1], 1, NULL, NULL), BITNET_OK);
        }
        bitnet_token id = bitnet_sampler_sample(chain, ctx, -1);
        CHECK(id >= 0 && id == argmax(bitnet_get_logits(ctx, -1), n_vocab));
        CHECK(bitnet_sampler_sample(preset, ctx, -1) == id);
        generated[step] = id;
    }
    bitnet_sampler_free(chain);
    bitnet_sampler_free(preset);
    CHECK(bitnet_context_pos_max(ctx) == N_PROMPT + N_GEN - 2);
    for (int i = 0; i < N_GEN; i++) {
        if (generated[i] != expected[i]) {
            fprintf(stderr, "step %d: generated %d, reference %d\n", i, generated[i],
                    expected[i]);
            return 1;
        }
    }
    printf("ok greedy %d ids\n", N_GEN);

    chat(model, expected == tq2_0_ids);
    bitnet_context_free(ctx);
    bitnet_model_free(model);
    return 0;
}
