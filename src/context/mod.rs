//! A context: one conversation's state over a shared model. It owns the KV cache (sized by
//! `n_ctx`), the logits of the last decode, scratch buffers and a thread pool.
//!
//! A context is used from one thread at a time (`&mut self`); many contexts may share one
//! `Arc<Model>` across threads.

mod cells;
mod threads;

use std::sync::Arc;

use crate::model::forward::{self, KvBuffers, UBatch, Workspace};
use crate::model::Model;
use crate::{Error, Result};

pub use cells::Cells;
pub use threads::physical_cores;

/// How to create a context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextParams {
    /// KV cache size in tokens; 0 = the model's training context. Rounded up to a multiple
    /// of 32 (bitnet.cpp architectures) or 256 (llama.cpp's `bitnet`) as the references do.
    pub n_ctx: u32,
    /// Most tokens one [`Context::decode`] call accepts.
    pub n_batch: u32,
    /// Most tokens computed in one pass; larger batches are split. The split changes the
    /// numerics the way it does in the references (one-token passes round some products to
    /// f16), so 512, their default, is kept for parity.
    pub n_ubatch: u32,
    /// Worker threads; 0 = the number of physical cores.
    pub n_threads: u32,
}

impl Default for ContextParams {
    fn default() -> Self {
        ContextParams {
            n_ctx: 0,
            n_batch: 512,
            n_ubatch: 512,
            n_threads: 0,
        }
    }
}

/// Called between layers; returning `true` stops the decode with [`Error::Aborted`].
pub type AbortCallback = Box<dyn FnMut() -> bool + Send>;

/// Positions, logits flags and cells of the batch being decoded.
#[derive(Default)]
struct BatchBufs {
    pos: Vec<i32>,
    want: Vec<bool>,
    /// Every cell claimed so far (released if the decode fails).
    allocated: Vec<usize>,
    /// The current micro-batch's cells and output rows.
    cells: Vec<usize>,
    outputs: Vec<usize>,
}

/// An inference context.
pub struct Context {
    model: Arc<Model>,
    params: ContextParams,
    kv: KvBuffers,
    cells: Cells,
    ws: Workspace,
    /// Logits of the last decode, one row per requested token.
    logits: Vec<f32>,
    /// For each token of the last decode, its row in `logits`.
    logit_rows: Vec<Option<usize>>,
    /// Where a decode writes its logits; swapped with `logits` only when it succeeds, so a
    /// failed decode leaves the previous logits readable.
    pending: Vec<f32>,
    /// The attention mask of the current micro-batch (kept to avoid reallocating it).
    mask: Vec<f32>,
    /// Per-decode bookkeeping, reused so that a decode step does not allocate.
    batch: BatchBufs,
    pool: rayon::ThreadPool,
    abort: Option<AbortCallback>,
}

impl Context {
    /// Creates a context over `model`.
    pub fn new(model: Arc<Model>, params: ContextParams) -> Result<Context> {
        let hp = model.hparams();
        let requested = if params.n_ctx == 0 {
            hp.n_ctx_train
        } else {
            params.n_ctx as usize
        };
        let pad = hp.arch.recipe().kv_pad();
        let n_ctx = requested.div_ceil(pad) * pad;
        if params.n_batch == 0 || params.n_ubatch == 0 {
            return Err(Error::InvalidArgument(
                "n_batch and n_ubatch must be at least 1".into(),
            ));
        }
        let n_threads = if params.n_threads == 0 {
            physical_cores()
        } else {
            params.n_threads as usize
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n_threads)
            .thread_name(|i| format!("bitnet-worker-{i}"))
            .build()
            .map_err(|e| {
                Error::InvalidArgument(format!("cannot start {n_threads} threads: {e}"))
            })?;
        let kv = KvBuffers::new(hp.n_layer, n_ctx, hp.n_embd_kv())?;
        Ok(Context {
            params: ContextParams {
                n_ctx: n_ctx as u32,
                n_batch: params.n_batch.min(n_ctx as u32),
                n_ubatch: params.n_ubatch.min(params.n_batch).min(n_ctx as u32),
                n_threads: n_threads as u32,
            },
            cells: Cells::new(n_ctx),
            kv,
            ws: Workspace::default(),
            logits: Vec::new(),
            logit_rows: Vec::new(),
            pending: Vec::new(),
            mask: Vec::new(),
            batch: BatchBufs::default(),
            pool,
            abort: None,
            model,
        })
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The effective parameters (n_ctx rounded, n_threads resolved, batch sizes capped).
    pub fn params(&self) -> ContextParams {
        self.params
    }

    pub fn n_ctx(&self) -> usize {
        self.params.n_ctx as usize
    }

    /// Cells holding a token.
    pub fn n_used(&self) -> usize {
        self.cells.n_used()
    }

    /// The largest position in the cache, or -1 when it is empty.
    pub fn pos_max(&self) -> i32 {
        self.cells.pos_max()
    }

    /// Bytes of the KV cache.
    pub fn kv_bytes(&self) -> usize {
        self.kv.size_bytes()
    }

    /// Empties the KV cache (the buffers are kept).
    pub fn clear(&mut self) {
        self.cells.clear();
        self.logits.clear();
        self.logit_rows.clear();
    }

    pub fn set_abort_callback(&mut self, abort: Option<AbortCallback>) {
        self.abort = abort;
    }

    /// Evaluates `tokens`. `positions` defaults to consecutive positions after
    /// [`pos_max`](Self::pos_max); `want_logits` (one flag per token) defaults to the last
    /// token only. On any error the context is left exactly as it was.
    pub fn decode(
        &mut self,
        tokens: &[u32],
        positions: Option<&[i32]>,
        want_logits: Option<&[bool]>,
    ) -> Result<()> {
        let n = tokens.len();
        let hp = self.model.hparams();
        if n == 0 {
            return Err(Error::InvalidArgument("empty batch".into()));
        }
        if n > self.params.n_batch as usize {
            return Err(Error::InvalidArgument(format!(
                "batch of {n} tokens exceeds n_batch = {}",
                self.params.n_batch
            )));
        }
        if let Some((i, &t)) = tokens
            .iter()
            .enumerate()
            .find(|(_, &t)| t as usize >= hp.n_vocab)
        {
            return Err(Error::InvalidArgument(format!(
                "token {i} of the batch is {t}, outside the vocabulary (0..{})",
                hp.n_vocab
            )));
        }
        if let Some(p) = positions {
            if p.len() != n {
                return Err(Error::InvalidArgument(format!(
                    "{} positions for {n} tokens",
                    p.len()
                )));
            }
            if let Some((i, &bad)) = p.iter().enumerate().find(|(_, &p)| p < 0) {
                return Err(Error::InvalidArgument(format!(
                    "position {i} of the batch is {bad}"
                )));
            }
        }
        if let Some(w) = want_logits {
            if w.len() != n {
                return Err(Error::InvalidArgument(format!(
                    "{} logits flags for {n} tokens",
                    w.len()
                )));
            }
        }
        if n > self.cells.n_free() {
            return Err(Error::ContextFull(format!(
                "{n} tokens do not fit: {} of {} cells are free",
                self.cells.n_free(),
                self.n_ctx()
            )));
        }
        let mut b = std::mem::take(&mut self.batch);
        b.pos.clear();
        match positions {
            Some(p) => b.pos.extend_from_slice(p),
            None => {
                let start = self.cells.pos_max() + 1;
                b.pos.extend((0..n as i32).map(|i| start + i));
            }
        }
        b.want.clear();
        match want_logits {
            Some(w) => b.want.extend_from_slice(w),
            None => b.want.extend((0..n).map(|i| i + 1 == n)),
        }
        b.allocated.clear();
        let result = self.run(tokens, &mut b);
        match result {
            Ok(()) => {
                std::mem::swap(&mut self.logits, &mut self.pending);
                self.logit_rows.clear();
                let mut next = 0;
                for &w in &b.want {
                    self.logit_rows.push(w.then(|| {
                        next += 1;
                        next - 1
                    }));
                }
            }
            Err(_) => self.cells.release(&b.allocated),
        }
        self.batch = b;
        result
    }

    fn run(&mut self, tokens: &[u32], b: &mut BatchBufs) -> Result<()> {
        let n_vocab = self.model.hparams().n_vocab;
        let n_out = b.want.iter().filter(|&&w| w).count();
        self.pending.clear();
        self.pending.resize(n_out * n_vocab, 0.0);
        let ub_size = self.params.n_ubatch as usize;
        let mut out_row = 0;
        for start in (0..tokens.len()).step_by(ub_size) {
            let end = (start + ub_size).min(tokens.len());
            b.outputs.clear();
            b.outputs
                .extend((start..end).filter(|&i| b.want[i]).map(|i| i - start));
            // Cells are claimed per micro-batch, as the references do, so n_kv (and with it
            // every attention reduction length) matches theirs.
            b.cells.clear();
            if !self.cells.allocate(&b.pos[start..end], &mut b.cells) {
                return Err(Error::ContextFull(
                    "KV cells ran out during the batch".into(),
                ));
            }
            b.allocated.extend_from_slice(&b.cells);
            let n_kv = self.cells.n_kv(self.model.arch().recipe().kv_pad());
            self.cells
                .build_mask(&b.pos[start..end], n_kv, &mut self.mask);
            let ub = UBatch {
                tokens: &tokens[start..end],
                pos: &b.pos[start..end],
                cells: &b.cells,
                n_kv,
                mask: &self.mask,
                outputs: &b.outputs,
            };
            let logits =
                &mut self.pending[out_row * n_vocab..(out_row + b.outputs.len()) * n_vocab];
            let (model, ws, kv) = (&*self.model, &mut self.ws, &mut self.kv);
            let abort = &mut self.abort;
            self.pool.install(|| {
                let mut poll = || abort.as_mut().is_some_and(|a| a());
                forward::forward(model, ws, kv, &ub, logits, &mut poll)
            })?;
            out_row += b.outputs.len();
        }
        Ok(())
    }

    /// Logits of token `i` of the last decode, if they were requested.
    pub fn logits(&self, i: usize) -> Option<&[f32]> {
        let n_vocab = self.model.hparams().n_vocab;
        let row = (*self.logit_rows.get(i)?)?;
        Some(&self.logits[row * n_vocab..(row + 1) * n_vocab])
    }

    /// Logits of the last token of the last decode (requested by default).
    pub fn last_logits(&self) -> Option<&[f32]> {
        self.logits(self.logit_rows.len().checked_sub(1)?)
    }

    /// Number of tokens in the last decode.
    pub fn n_last_batch(&self) -> usize {
        self.logit_rows.len()
    }
}
