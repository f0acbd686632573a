" Vim syntax file
" Language:   nasl (neural architecture search pipelines), *.nas
" Maintainer: the nasl authors
" The word lists below are checked against grammar/nasl.pest and the Rust tables by tests/editors.rs.

if exists('b:current_syntax')
  finish
endif

let s:cpo_save = &cpo
set cpo&vim

" Keyword rules of grammar/nasl.pest.
let s:decl_kw = [
      \ 'dataset', 'block', 'space', 'stage'
      \ ]
let s:keywords = [
      \ 'include', 'choose', 'executor'
      \ ]
let s:setting_kw = [
      \ 'split', 'batch', 'augment', 'normalize', 'path', 'classes', 'size', 'seed', 'stem',
      \ 'layers', 'head', 'resolution', 'ops', 'network', 'normal', 'reduce', 'node_inputs', 'node', 'concat',
      \ 'data', 'sampler', 'epochs', 'optimizer', 'schedule', 'level', 'relax', 'weights',
      \ 'arch', 'derive', 'population', 'generations', 'keep', 'mutate', 'crossover',
      \ 'constraint', 'penalty', 'objective', 'pareto', 'recalibrate', 'sample_over', 'samples', 'seeds',
      \ 'controller', 'reward', 'phases', 'phase', 'split_on', 'finetune', 'candidates', 'eta',
      \ 'min_epochs', 'max_epochs', 'drop_path', 'auxiliary', 'cutout', 'latency', 'predictor',
      \ 'distill', 'steps', 'grad_clip', 'warmup', 'label_smoothing', 'proxy_epochs', 'shared',
      \ 'entropy', 'baseline', 'target', 'sample', 'threshold', 'dropout', 'store', 'affine', 'extremes',
      \ 'partition', 'time', 'gpus_per_task', 'cpus_per_task', 'account', 'max_retries'
      \ ]
let s:sched_kind = [
      \ 'constant', 'linear', 'exponential', 'cosine', 'step'
      \ ]
let s:boolean = [
      \ 'true', 'false'
      \ ]

" Built-in names: ops of nasl::catalog, stage kinds and the other tables of nasl::sema::tables.
let s:ops = [
      \ 'conv', 'dw_conv', 'depthwise', 'sep_conv', 'dil_conv', 'relu_conv_bn', 'nor_conv',
      \ 'mbconv', 'inverted_residual', 'shuffle', 'shufflenet', 'shuffle_xception', 'xception',
      \ 'basic_block', 'resnet_block', 'max_pool', 'avg_pool', 'skip', 'identity',
      \ 'skip_connect', 'none', 'zero', 'factorized_reduce', 'global_avg_pool', 'gap',
      \ 'linear', 'fc', 'dropout', 'relu', 'relu6', 'hswish', 'hardswish', 'swish', 'silu',
      \ 'sigmoid', 'bn', 'batch_norm'
      \ ]
let s:stage_kinds = [
      \ 'train', 'progressive_shrinking', 'few_shot', 'evolution', 'random_search', 'nsga2',
      \ 'successive_halving', 'differentiable', 'rl', 'hypernet', 'retrain', 'evaluate', 'rank'
      \ ]
let s:builtins = [
      \ 'chain', 'cell', 'genotype', 'fashion_mnist', 'mnist', 'cifar10', 'cifar100', 'folder',
      \ 'synthetic', 'random_crop', 'hflip', 'cutout', 'uniform', 'constrained', 'fair',
      \ 'path_dropout', 'sandwich', 'softmax', 'gumbel', 'gumbel_hard', 'binary_gates', 'superkernel',
      \ 'masked_gumbel', 'sgd', 'adam', 'adamw', 'rmsprop', 'constant', 'exponential',
      \ 'cosine', 'step', 'single', 'bilevel', 'argmax', 'top_k_edges', 'sample', 'lstm',
      \ 'accuracy', 'mnas', 'flops', 'params', 'latency', 'lut', 'measure', 'mlp', 'full',
      \ 'kernel', 'depth', 'width'
      \ ]
let s:metric_prefix = [
      \ 'val', 'train', 'test'
      \ ]
let s:metric_suffix = [
      \ 'accuracy', 'loss'
      \ ]

" Unit suffixes of numbers (the `unit` rule).
let s:units = [
      \ 'ms', 'min', 'K', 'M', 'G', 's', 'h'
      \ ]

function! s:words(list) abort
  return '\<\%(' . join(a:list, '\|') . '\)\>'
endfunction

syn case match
syn sync minlines=50

" Built-ins are matches (not keywords) so that a statement key defined later wins at the start
" of a statement: `dropout 0.2` is a key, `relu dropout` an op.
exe 'syn match nasBuiltin /' . s:words(s:builtins) . '/'
exe 'syn match nasStageKind /' . s:words(s:stage_kinds) . '/'
exe 'syn match nasOp /' . s:words(s:ops) . '/'
exe 'syn match nasMetric /\<\%(' . join(s:metric_prefix, '\|') . '\)\.\%(' . join(s:metric_suffix, '\|') . '\)\>/'
exe 'syn match nasBoolean /' . s:words(s:boolean) . '/'
exe 'syn match nasKeyword /' . s:words(s:keywords) . '/'

" A named argument `name:`.
syn match nasNamedArg /\<\h\w*\ze\s*:/

" The shape of a schedule `a -> b linear`.
exe 'syn match nasSchedKind /\%(->\s*\S\+\s\+\)\@<=' . s:words(s:sched_kind) . '/'

" A statement key: first word of a line, or after `{` or `;`.
exe 'syn match nasKey /\%(^\s*\|[{;]\s*\)\@<=' . s:words(s:setting_kw) . '/'

" A declaration `KIND NAME =` or `block NAME(`; a body statement `layers out: ...` is a key.
exe 'syn match nasDecl /^\s*' . s:words(s:decl_kw) . '\ze\s\+\h\w*\s*[=(]/ nextgroup=nasDeclName skipwhite'
syn match nasDeclName /\h\w*/ contained

" Numbers with units: 12M, 3e-4, 1/3, 10s, 80ms, -0.07.
exe 'syn match nasNumber /-\=\<\d\+\%(\/\d\+\|\%(\.\d\+\)\=\%([eE][+-]\=\d\+\)\=\)\%(' . join(s:units, '\|') . '\)\=\>/ contains=nasUnit'
exe 'syn match nasUnit /\d\@<=\%(' . join(s:units, '\|') . '\)\>/ contained'

syn match nasOperator /->\|\.\.\|[<>=!]=\|[<>=]/

syn region nasString start=/"/ skip=/\\./ end=/"\|$/ contains=nasEscape oneline
syn match nasEscape /\\./ contained

syn keyword nasTodo TODO FIXME XXX NOTE contained
syn match nasLineComment +//.*$+ contains=nasTodo,@Spell
syn region nasBlockComment start=+/\*+ end=+\*/+ contains=nasTodo,@Spell fold

syn region nasBraces start=/{/ end=/}/ transparent fold
syn region nasBrackets start=/\[/ end=/\]/ transparent

hi def link nasDecl Keyword
hi def link nasDeclName Type
hi def link nasKeyword Keyword
hi def link nasKey Statement
hi def link nasSchedKind Constant
hi def link nasBoolean Boolean
hi def link nasOp Function
hi def link nasStageKind Structure
hi def link nasBuiltin Identifier
hi def link nasMetric Special
hi def link nasNamedArg Label
hi def link nasNumber Number
hi def link nasUnit Special
hi def link nasOperator Operator
hi def link nasString String
hi def link nasEscape SpecialChar
hi def link nasLineComment Comment
hi def link nasBlockComment Comment
hi def link nasTodo Todo

let b:current_syntax = 'nas'

let &cpo = s:cpo_save
unlet s:cpo_save
