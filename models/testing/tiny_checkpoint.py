"""Small, real DiffusionGemma checkpoints with random weights, built offline and deterministically.

`build_checkpoint(path)` writes a folder in the Hugging Face layout that
`DiffusionGemmaForBlockDiffusion.from_pretrained(path)` and `models.checkpoint.processing.load_processor(path)` load
with no network and no remote code: config.json, model.safetensors, generation_config.json (with the sampler
defaults, eos and pad), a GemmaTokenizer trained here (tokenizer.json, tokenizer_config.json), the Gemma 4
chat template (chat_template.jinja) and the image processor's settings (processor_config.json).

Token id layout (the same for every vocabulary size; the first ids follow Gemma's):
  0 <pad>  1 <eos>  2 <bos>  3 <unk>  4 <mask>, then the Gemma 4 control tokens from 5 on (see CONTROL_TOKENS),
  then the 256 byte-fallback tokens <0x00>..<0xFF>, then the trained BPE pieces, then `<unusedN>` fillers
  up to `vocab_size` when the built-in corpus runs out of merges.
Digits are always single tokens, whatever precedes them ("7" in "x7", " 7" and "17" is the same id), because
the trainer never merges a digit with anything.

The module does not import Qt; it imports torch and transformers lazily.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from models.inputs.images import IMAGE_TOKEN_BUDGETS
from models.work.settings import FALLBACK_DEFAULTS

# ----------------------------------------------------------------------------------------------------------------
# Special tokens

#: (name, string) of the named special tokens that come first, ids 0..4 as in Gemma.
BASE_SPECIAL_TOKENS: tuple[tuple[str, str], ...] = (
    ("pad_token", "<pad>"),
    ("eos_token", "<eos>"),
    ("bos_token", "<bos>"),
    ("unk_token", "<unk>"),
    ("mask_token", "<mask>"),
)

#: Gemma 4's model-specific special tokens, by the attribute names the real tokenizer_config uses
#: (`tokenizer.image_token`, `tokenizer.sot_token`, ...); ids 5.. in this order.
CONTROL_TOKENS: dict[str, str] = {
    "sot_token": "<|turn>",          # start of turn
    "eot_token": "<turn|>",          # end of turn
    "soc_token": "<|channel>",       # start of channel (thought)
    "eoc_token": "<channel|>",       # end of channel
    "think_token": "<|think|>",      # enables thinking when it opens the system turn
    "image_token": "<|image|>",      # image soft-token placeholder
    "boi_token": "<|image>",         # begin of image
    "eoi_token": "<image|>",         # end of image
    "audio_token": "<|audio|>",
    "boa_token": "<|audio>",
    "eoa_token": "<audio|>",
    "video_token": "<|video|>",
    "std_token": "<|tool>",          # tool declaration
    "etd_token": "<tool|>",
    "stc_token": "<|tool_call>",
    "etc_token": "<tool_call|>",
    "str_token": "<|tool_response>",
    "etr_token": "<tool_response|>",
    "escape_token": '<|"|>',
}

SPECIAL_TOKEN_IDS: dict[str, int] = {
    text: index for index, text in enumerate([t for _, t in BASE_SPECIAL_TOKENS] + list(CONTROL_TOKENS.values()))
}
PAD_ID = SPECIAL_TOKEN_IDS["<pad>"]
EOS_ID = SPECIAL_TOKEN_IDS["<eos>"]
BOS_ID = SPECIAL_TOKEN_IDS["<bos>"]
END_OF_TURN_ID = SPECIAL_TOKEN_IDS["<turn|>"]
IMAGE_TOKEN_ID = SPECIAL_TOKEN_IDS["<|image|>"]
BOI_TOKEN_ID = SPECIAL_TOKEN_IDS["<|image>"]
EOI_TOKEN_ID = SPECIAL_TOKEN_IDS["<image|>"]
BYTE_TOKENS: tuple[str, ...] = tuple(f"<0x{i:02X}>" for i in range(256))
FIRST_PIECE_ID = len(SPECIAL_TOKEN_IDS) + len(BYTE_TOKENS)  # first id of a trained BPE piece

DEFAULT_IMAGE_BUDGET = 70  # the smallest: tiny checkpoints keep their images cheap

#: Sampler defaults saved into generation_config.json: the model card's recommendation, as the app uses it.
GENERATION_DEFAULTS: dict[str, Any] = {k: v for k, v in FALLBACK_DEFAULTS.items() if k != "max_new_tokens"}

# ----------------------------------------------------------------------------------------------------------------
# Chat template: the Gemma 4 format (system turn optional, `enable_thinking` puts <|think|> at the top of the
# system turn, model turns in history keep only their final answer, images become <|image|>), without tools.

CHAT_TEMPLATE = r"""{%- macro strip_thinking(text) -%}
    {%- set ns = namespace(result='') -%}
    {%- for part in text.split('<channel|>') -%}
        {%- if '<|channel>' in part -%}
            {%- set ns.result = ns.result + part.split('<|channel>')[0] -%}
        {%- else -%}
            {%- set ns.result = ns.result + part -%}
        {%- endif -%}
    {%- endfor -%}
    {{- ns.result | trim -}}
{%- endmacro -%}
{%- macro render_content(content, role) -%}
    {%- if content is string -%}
        {%- if role == 'model' -%}{{- strip_thinking(content) -}}{%- else -%}{{- content | trim -}}{%- endif -%}
    {%- elif content is sequence -%}
        {%- for item in content -%}
            {%- if item['type'] == 'text' and role == 'model' -%}
                {{- strip_thinking(item['text']) -}}
            {%- elif item['type'] == 'text' -%}
                {{- item['text'] | trim -}}
            {%- elif item['type'] == 'image' -%}
                {{- '<|image|>' -}}
            {%- elif item['type'] == 'audio' -%}
                {{- '<|audio|>' -}}
            {%- elif item['type'] == 'video' -%}
                {{- '<|video|>' -}}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro -%}
{%- set loop_messages = messages -%}
{{- bos_token -}}
{%- set has_system = messages and messages[0]['role'] in ['system', 'developer'] -%}
{%- if (enable_thinking is defined and enable_thinking) or has_system -%}
    {{- '<|turn>system\n' -}}
    {%- if enable_thinking is defined and enable_thinking -%}
        {{- '<|think|>\n' -}}
    {%- endif -%}
    {%- if has_system -%}
        {{- render_content(messages[0]['content'], 'system') -}}
        {%- set loop_messages = messages[1:] -%}
    {%- endif -%}
    {{- '<turn|>\n' -}}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
    {{- '<|turn>' + role + '\n' -}}
    {{- render_content(message['content'], role) -}}
    {{- '<turn|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|turn>model\n' -}}
{%- endif -%}
"""

# ----------------------------------------------------------------------------------------------------------------
# Built-in training corpus for the tokenizer: varied plain English, chat phrasing, numbers and punctuation.

CORPUS = """\
The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins with a single step.
Hello! How are you today? I am fine, thank you. What would you like to talk about?
You are a helpful assistant. Answer the question briefly and clearly.
Please sort these numbers from smallest to largest: 42, 7, 19, 3, 88, 56.
The sorted list is 3, 7, 19, 42, 56, 88. The largest number is 88 and the smallest is 3.
Count the circles in the picture. There are four circles and two squares.
What colour is the shape? The shape is red. The triangle is green, the circle is blue and the square is yellow.
The image shows a small orange cat sitting on a wooden table next to a window.
Describe the picture in one sentence. A dog is running across a field of tall grass.
Let me think about this step by step. First, add the two numbers. Then divide the result by two.
The answer is 12. The answer is 305. The answer is 4096. The answer is 0.5 and the error is 1e-3.
Write a short poem about the sea. The sea is wide and deep and blue; it sings of places old and new.
Translate "good morning" into French. Bonjour! In Spanish it is "buenos dias".
The meeting is on Monday, March 3rd, at 10:30 in room 214. Bring your notes and a pen.
Summarize the text: the committee agreed to build a new library near the river before the end of the year.
Why is the sky blue? Sunlight is scattered by the air, and blue light is scattered more than red light.
Water boils at 100 degrees Celsius at sea level and freezes at 0 degrees.
The train leaves at 6:45 and arrives at 9:15, so the trip takes two and a half hours.
She opened the door, looked outside, and saw that it was raining again.
They planted apple trees, pear trees and cherry trees in the garden behind the house.
Can you help me write an email to my teacher? Of course. Here is a draft you can edit.
The function returns a list of strings; each string is one line of the file.
def add(a, b): return a + b  # adds two numbers
for i in range(10): print(i * i)
if x > 0 and y < 5: z = x - y
Error: file not found. Please check the path and try again.
Step 1: open the box. Step 2: remove the parts. Step 3: read the manual.
The model is thinking. The thought is hidden, and the final answer follows.
Is the statement true or false? It is true. No, it is false. Yes, that is correct.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 25 30 50 64 99 100 128 256 512 1000 2024.
Shapes: circle, square, triangle, rectangle, star, heart, diamond, hexagon, oval, line, dot, arrow.
Colours: red, green, blue, yellow, orange, purple, pink, brown, black, white, gray, grey, cyan.
Positions: left, right, top, bottom, above, below, inside, outside, between, middle, center, corner.
Counting: one, two, three, four, five, six, seven, eight, nine, ten, eleven, twelve, twenty, hundred.
Days: Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday. Months: January, February, April, May.
People like to read books, watch films, listen to music, play games and walk in the park.
The scientist measured the temperature every hour and wrote the values in a notebook.
A computer program follows instructions. It reads input, does some work and writes output.
The children laughed when the clown dropped his hat into the bucket of water.
It was a cold winter night, and the stars were bright above the quiet village.
Mix the flour, sugar and eggs in a bowl, then bake the cake for thirty minutes.
The river flows through the valley, past the farms and the old stone bridge.
Which is bigger, 17 or 71? The number 71 is bigger. Which is smaller, 5 or 50? 5 is smaller.
Reverse the list 1, 2, 3, 4 to get 4, 3, 2, 1. Repeat the word "hello" three times: hello hello hello.
What is 6 times 7? 6 times 7 is 42. What is 9 plus 8? 9 plus 8 is 17. What is 15 minus 6? It is 9.
The user asked a question, and the model gave an answer. The system prompt sets the rules.
(Note: brackets [like these], braces {like these}, quotes 'single' and "double",
and symbols @ # $ % & * + = / \\ | ~ ^ < > _ -.)
Thanks for your help! You're welcome. Have a nice day. See you later. Goodbye.
I don't know. I'm not sure, but I think it's about 20 km from here. We'll see; they've already left.
Her favourite fruits are bananas, grapes, lemons, mangoes, peaches and strawberries.
Mountains, forests, deserts, oceans, islands, lakes and rivers cover the surface of the earth.
He wrote the report quickly, checked every number twice and sent it before noon.
The store opens early in the morning and closes late in the evening, except on holidays.
Good question. There are several ways to solve this problem, and each has its own cost.
The quick answer is yes. The long answer depends on what you want to build and how fast it must run.
Images, text, audio and video are different kinds of input that a model can read.
The picture is dark at the top and bright at the bottom, with a white cloud in the middle.
A big blue circle is on the left, and a small red square is on the right.
There is one green triangle above two yellow stars. How many shapes are there? There are three shapes.
Everything will be fine. Nothing is impossible. Something happened yesterday. Anyone can learn this.
Simple, clear, short, long, fast, slow, happy, sad, new, old, hot, cold, easy, hard, early, late.
system
user
model
thought
about above accept across act action add address admit adult affect after again against age agency agent ago agree
ahead air all allow almost alone along already also although always among amount analysis animal another answer any
anything appear apply approach area argue arm around arrive art article artist ask assume attack attention audience
author authority available avoid away baby back bad bag ball bank bar base beat beautiful because become bed before
begin behavior behind believe benefit best better beyond big bill billion bit black blood board body book born both
box boy break bring brother budget build building business but buy call camera campaign can cancer candidate capital
car card care career carry case catch cause cell center central century certain certainly chair challenge chance
change character charge check child choice choose church citizen city civil claim class clear clearly close coach
collection college color come commercial common community company compare computer concern condition conference
congress consider consumer contain continue control cost could country couple course court cover create crime
cultural culture cup current customer cut dark data daughter dead deal death debate decade decide decision deep
defense degree democrat describe design despite detail determine develop development difference different difficult
dinner direction director discover discuss discussion disease doctor dog door down draw dream drive drop drug during
each early east easy eat economic economy edge education effect effort either election else employee end energy
enjoy enough enter entire environment environmental especially establish even evening event ever every everybody
everyone evidence exactly example executive exist expect experience expert explain eye face fact factor fail fall
family far fast father fear federal feel feeling few field fight figure fill film final finally financial find fine
finger finish fire firm first fish five floor fly focus follow food foot force foreign forget form former forward
free friend from front full fund future game garden gas general generation get girl give glass goal good government
great green ground group grow growth guess gun guy hair half hand hang happen happy hard have head health hear heart
heat heavy help here herself high himself history hit hold home hope hospital hotel hour house however huge human
husband idea identify imagine impact important improve include including increase indeed indicate individual
industry information inside instead institution interest interesting international interview into investment issue
item itself job join just keep key kid kill kind kitchen know knowledge land language large last late later laugh
law lawyer lay lead leader learn least leave legal less letter level lie life light like likely line list listen
little live local long look lose loss lot love low machine magazine main maintain major majority make man manage
management manager many market marriage material matter maybe mean measure media medical meet meeting member memory
mention message method middle might military million mind minute miss mission modern moment money month more
morning most mother mouth move movement much music must myself name nation national natural nature near nearly
necessary need network never news newspaper next nice night none nor north note nothing notice now number occur
offer office officer official often oil okay once only onto open operation opportunity option order organization
other others our out outside over own owner page pain painting paper parent part participant particular
particularly partner party pass past patient pattern pay peace per perform performance perhaps period person
personal phone physical pick piece place plan plant play player point police policy political politics poor
popular population position positive possible power practice prepare present president pressure pretty prevent
price private probably problem process produce product production professional professor program project property
protect prove provide public pull purpose push put quality question quickly quite race radio raise range rate
rather reach read ready real reality realize really reason receive recent recently recognize record reduce reflect
region relate relationship religious remain remember remove report represent require research resource respond
response responsibility rest result return reveal rich rise risk road rock role room rule run safe same save say
scene school science scientist score season seat second section security seek seem sell send senior sense series
serious serve service set several shake share shoot short shot should shoulder show side sign significant similar
since sing single sister sit site situation size skill skin small smile social society soldier some somebody
someone sometimes son song soon sort sound source south southern space speak special specific speech spend sport
spring staff stage stand standard start state statement station stay still stock stop store story strategy street
strong structure student study stuff style subject success successful such suddenly suffer suggest summer support
sure surface system table take talk task tax teach teacher team technology television tell tend term test than
thank that their them themselves then theory there these they thing think third this those though thought thousand
threat through throughout throw thus time today together tonight too total tough toward town trade traditional
training travel treat treatment tree trial trip trouble truth try turn type under understand unit until upon usually
value various very victim view violence visit voice vote wait walk wall want war watch water way weapon wear week
weight well west western what whatever when where whether which while who whole whom whose wide wife will win wind
window wish with within without woman wonder word work worker world worry would write writer wrong yard yeah year
young your yourself
"""


# ----------------------------------------------------------------------------------------------------------------
# Tokenizer

def _train_pieces(vocab_size: int, corpus: str | None = None) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train the BPE on `corpus` (CORPUS by default); return the full vocab (specials, bytes, pieces, fillers)
    and the merges."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

    n_fixed = FIRST_PIECE_ID
    if vocab_size < n_fixed + 128:
        raise ValueError(f"vocab_size must be at least {n_fixed + 128} (special and byte tokens take {n_fixed})")
    text = (CORPUS if corpus is None else corpus).replace("\n", " \n")
    alphabet = sorted(set(text.replace(" ", "\u2581")))

    trainer_tokenizer = Tokenizer(models.BPE())
    trainer_tokenizer.normalizer = normalizers.Replace(" ", "\u2581")
    # Words start at "▁" (as sentencepiece would see them); digits, punctuation and newlines stand alone, so no
    # merge ever involves them and each stays one token at run time, where GemmaTokenizer does no splitting.
    trainer_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex("\n"), behavior="isolated"),
        pre_tokenizers.Split(Regex("\u2581"), behavior="merged_with_next"),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.Split(Regex(r"[^\w\u2581]"), behavior="isolated"),
    ])
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - n_fixed,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=alphabet,
        special_tokens=[],
        limit_alphabet=len(alphabet),
    )
    # Feed the corpus as one line per sentence so counts do not depend on chunking.
    trainer_tokenizer.train_from_iterator(text.split(" \n"), trainer=trainer)
    model = json.loads(trainer_tokenizer.to_str())["model"]
    trained_vocab: dict[str, int] = model["vocab"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in model["merges"]]

    vocab: dict[str, int] = {}
    for token in list(SPECIAL_TOKEN_IDS) + list(BYTE_TOKENS):
        vocab[token] = len(vocab)
    for piece, _ in sorted(trained_vocab.items(), key=lambda item: item[1]):
        if piece not in vocab:
            vocab[piece] = len(vocab)
    filler = 0
    while len(vocab) < vocab_size:
        vocab[f"<unused{filler}>"] = len(vocab)
        filler += 1
    return vocab, merges


def build_tokenizer(vocab_size: int = 1024, corpus: str | None = None):
    """A GemmaTokenizer with Gemma 4's special tokens and the chat template, trained offline on CORPUS.

    `corpus` replaces CORPUS, e.g. so a trained demo model's task words become single tokens.
    """
    from transformers import GemmaTokenizer

    vocab, merges = _train_pieces(vocab_size, corpus)
    tokenizer = GemmaTokenizer(
        vocab=vocab,
        merges=merges,
        extra_special_tokens=dict(CONTROL_TOKENS),
        add_bos_token=True,  # as Gemma's: `tokenizer(text)` starts with <bos>; the chat template writes its own
        add_eos_token=False,
        padding_side="left",
        chat_template=CHAT_TEMPLATE,
    )
    fillers = [t for t in vocab if t.startswith("<unused")]
    if fillers:
        tokenizer.add_tokens(fillers, special_tokens=True)
    return tokenizer


# ----------------------------------------------------------------------------------------------------------------
# Model

def build_config(
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    vocab_size: int = 1024,
    canvas_length: int = 32,
    vision: bool = True,
    intermediate_size: int | None = None,
    heads: int = 4,
    kv_heads: int | None = None,
    num_experts: int = 4,
    top_k_experts: int = 2,
    moe_intermediate_size: int | None = None,
    sliding_window: int = 512,
    vision_hidden_size: int | None = None,
    vision_layers: int | None = None,
):
    """The DiffusionGemmaConfig of a tiny model whose special token ids match `build_tokenizer`'s."""
    from transformers import DiffusionGemmaConfig

    if hidden_size % heads:
        raise ValueError(f"hidden_size {hidden_size} is not divisible by heads {heads}")
    head_dim = hidden_size // heads
    text_config = {
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "intermediate_size": intermediate_size or 2 * hidden_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads or max(1, heads // 2),
        "head_dim": head_dim,
        "global_head_dim": head_dim,
        "num_experts": num_experts,
        "top_k_experts": top_k_experts,
        "moe_intermediate_size": moe_intermediate_size or hidden_size,
        "sliding_window": sliding_window,
        "use_bidirectional_attention": "vision",
        # Gemma's 5:1 sliding:full pattern, with the last layer full (the config forces that, with a warning).
        "layer_types": [
            "full_attention" if (i + 1) % 6 == 0 or i == num_layers - 1 else "sliding_attention"
            for i in range(num_layers)
        ],
        "pad_token_id": PAD_ID,
        "eos_token_id": EOS_ID,
        "bos_token_id": BOS_ID,
    }
    v_hidden = vision_hidden_size or (32 if vision else 16)
    v_heads = 2 if v_hidden >= 32 else 1
    vision_config = {
        "model_type": "gemma4_vision",
        "hidden_size": v_hidden,
        "intermediate_size": 2 * v_hidden,
        "num_hidden_layers": vision_layers or (2 if vision else 1),
        "num_attention_heads": v_heads,
        "num_key_value_heads": v_heads,
        "head_dim": v_hidden // v_heads,
        "patch_size": 16,
        "pooling_kernel_size": 3,
        # Largest patch coordinate at the 1120 budget is 3359 (a 1-patch-high strip); 4096 covers every image.
        "position_embedding_size": 4096,
    }
    return DiffusionGemmaConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=IMAGE_TOKEN_ID,
        boi_token_id=BOI_TOKEN_ID,
        eoi_token_id=EOI_TOKEN_ID,
        canvas_length=canvas_length,
        pad_token_id=PAD_ID,
        eos_token_id=[EOS_ID, END_OF_TURN_ID],
        bos_token_id=BOS_ID,
    )


def build_generation_config(canvas_length: int, generation_defaults: dict[str, Any] | None = None):
    """DiffusionGemmaGenerationConfig with eos (end of turn and <eos>), pad, bos and every sampler default set."""
    from transformers.models.diffusion_gemma.generation_diffusion_gemma import (
        DiffusionGemmaGenerationConfig,
        EntropyBoundSamplerConfig,
    )

    values = dict(GENERATION_DEFAULTS)
    values["max_new_tokens"] = canvas_length
    values.update(generation_defaults or {})
    entropy_bound = float(values.pop("entropy_bound"))
    return DiffusionGemmaGenerationConfig(
        max_new_tokens=int(values.pop("max_new_tokens")),
        max_denoising_steps=int(values.pop("max_denoising_steps")),
        sampler_config=EntropyBoundSamplerConfig(entropy_bound=entropy_bound),
        t_min=float(values.pop("t_min")),
        t_max=float(values.pop("t_max")),
        stability_threshold=int(values.pop("stability_threshold")),
        confidence_threshold=float(values.pop("confidence_threshold")),
        eos_token_id=[END_OF_TURN_ID, EOS_ID],
        pad_token_id=PAD_ID,
        bos_token_id=BOS_ID,
        **values,
    )


def image_processor_dict(max_soft_tokens: int = DEFAULT_IMAGE_BUDGET) -> dict[str, Any]:
    """Settings of the Gemma 4 image processor (PIL backend), as saved under "image_processor"."""
    from transformers.models.gemma4.image_processing_pil_gemma4 import Gemma4ImageProcessorPil

    processor = Gemma4ImageProcessorPil(max_soft_tokens=max_soft_tokens, patch_size=16, pooling_kernel_size=3)
    settings = json.loads(processor.to_json_string())
    settings["image_processor_type"] = "Gemma4ImageProcessor"
    settings.pop("processor_class", None)
    return settings


def processor_config_dict(max_soft_tokens: int = DEFAULT_IMAGE_BUDGET) -> dict[str, Any]:
    """processor_config.json as the stock Gemma4Processor saves it (image, audio and video sub-configs)."""
    from transformers.models.gemma4.feature_extraction_gemma4 import Gemma4AudioFeatureExtractor

    audio = json.loads(Gemma4AudioFeatureExtractor().to_json_string())  # drops the computed mel filters
    audio["feature_extractor_type"] = "Gemma4AudioFeatureExtractor"
    audio.pop("processor_class", None)
    image = image_processor_dict(max_soft_tokens)
    video = {
        "video_processor_type": "Gemma4VideoProcessor",
        "patch_size": 16,
        "pooling_kernel_size": 3,
        "max_soft_tokens": max_soft_tokens,
        "do_resize": True,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": False,
        "do_convert_rgb": True,
    }
    return {
        "processor_class": "Gemma4Processor",
        "image_processor": image,
        "feature_extractor": audio,
        "video_processor": video,
        "image_seq_length": 280,
        "audio_seq_length": 750,
        "audio_ms_per_token": 40,
    }


def build_model(config, seed: int = 0):
    """Random weights drawn from a fixed seed, independent of the global RNG state."""
    import torch
    from transformers import DiffusionGemmaForBlockDiffusion

    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = DiffusionGemmaForBlockDiffusion(config)
    finally:
        torch.random.set_rng_state(state)
    return model.eval()


def build_checkpoint(
    path: str | os.PathLike,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    vocab_size: int = 1024,
    canvas_length: int = 32,
    vision: bool = True,
    seed: int = 0,
    intermediate_size: int | None = None,
    heads: int = 4,
    kv_heads: int | None = None,
    num_experts: int = 4,
    top_k_experts: int = 2,
    moe_intermediate_size: int | None = None,
    vision_hidden_size: int | None = None,
    vision_layers: int | None = None,
    image_budget: int = DEFAULT_IMAGE_BUDGET,
    generation_defaults: dict[str, Any] | None = None,
    tokenizer_corpus: str | None = None,
) -> Path:
    """Write a complete tiny DiffusionGemma checkpoint to `path` (created or replaced) and return it.

    `vision=False` keeps the vision tower (the architecture always has one) as small as it goes, for text-only
    tests; images still work. `generation_defaults` overrides GENERATION_DEFAULTS keys or `max_new_tokens`.
    `tokenizer_corpus` replaces the built-in CORPUS the tokenizer is trained on.
    """
    from transformers import GenerationConfig  # noqa: F401  (import transformers before silencing its logger)
    from transformers.utils import logging as hf_logging

    if image_budget not in IMAGE_TOKEN_BUDGETS:
        raise ValueError(f"image_budget must be one of {IMAGE_TOKEN_BUDGETS}")
    unknown = set(generation_defaults or {}) - set(GENERATION_DEFAULTS) - {"max_new_tokens"}
    if unknown:
        raise ValueError(f"unknown generation defaults: {sorted(unknown)}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    verbosity = hf_logging.get_verbosity()
    try:
        hf_logging.set_verbosity_error()
        config = build_config(
            hidden_size=hidden_size, num_layers=num_layers, vocab_size=vocab_size, canvas_length=canvas_length,
            vision=vision, intermediate_size=intermediate_size, heads=heads, kv_heads=kv_heads,
            num_experts=num_experts, top_k_experts=top_k_experts, moe_intermediate_size=moe_intermediate_size,
            vision_hidden_size=vision_hidden_size, vision_layers=vision_layers,
        )
        model = build_model(config, seed=seed)
        model.generation_config = build_generation_config(canvas_length, generation_defaults)
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer = build_tokenizer(vocab_size, tokenizer_corpus)
        tokenizer.save_pretrained(staging)
        (staging / "chat_template.jinja").write_text(CHAT_TEMPLATE, encoding="utf-8")
        _write_json(staging / "processor_config.json", processor_config_dict(image_budget))
        _normalise_json_files(staging)
        staging.chmod(0o755)  # mkdtemp makes it 0700
        for file in staging.iterdir():
            file.chmod(0o644)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        hf_logging.set_verbosity(verbosity)
    return target


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _normalise_json_files(folder: Path) -> None:
    """Sort keys so the same build gives the same bytes (tokenizer.json keeps its own order)."""
    for name in ("config.json", "generation_config.json", "tokenizer_config.json"):
        file = folder / name
        if file.is_file():
            _write_json(file, json.loads(file.read_text(encoding="utf-8")))


# ----------------------------------------------------------------------------------------------------------------
# Helpers meant for pytest fixtures (the lead wires them into conftest)

_CACHE: dict[tuple[str, str], Path] = {}


def cached_checkpoint(root: str | os.PathLike, **kwargs: Any) -> Path:
    """Build once per process for each distinct set of arguments, under `root` (e.g. a session tmp dir)."""
    spec = repr(sorted(kwargs.items()))
    key = (str(root), spec)
    if key not in _CACHE or not (_CACHE[key] / "config.json").is_file():
        name = "tiny-" + hashlib.sha256(spec.encode()).hexdigest()[:12]
        _CACHE[key] = build_checkpoint(Path(root) / name, **kwargs)
    return _CACHE[key]


def tiny_text_checkpoint(root: str | os.PathLike) -> Path:
    """Smallest useful checkpoint: hidden 64, 2 layers, vocab 1024, canvas 32, minimal vision tower."""
    return cached_checkpoint(root, vision=False)


def tiny_vision_checkpoint(root: str | os.PathLike) -> Path:
    """Hidden 64, 2 layers, vocab 1024, canvas 32, a working tiny vision tower."""
    return cached_checkpoint(root, vision=True)


def demo_checkpoint_path() -> Path:
    """Where the shipped demo checkpoint lives (resources/demo-model)."""
    from resources import DEMO_MODEL

    return DEMO_MODEL


__all__ = [
    "BASE_SPECIAL_TOKENS", "CONTROL_TOKENS", "SPECIAL_TOKEN_IDS", "CHAT_TEMPLATE", "CORPUS",
    "IMAGE_TOKEN_BUDGETS", "DEFAULT_IMAGE_BUDGET", "GENERATION_DEFAULTS",
    "PAD_ID", "EOS_ID", "BOS_ID", "END_OF_TURN_ID", "IMAGE_TOKEN_ID", "BOI_TOKEN_ID", "EOI_TOKEN_ID",
    "build_tokenizer", "build_config", "build_generation_config", "build_model", "build_checkpoint",
    "image_processor_dict", "processor_config_dict",
    "cached_checkpoint", "tiny_text_checkpoint", "tiny_vision_checkpoint", "demo_checkpoint_path",
]
