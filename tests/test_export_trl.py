"""From labeling to training: a conversational project ranked and a thumbs project judged through
the API, exported as TRL's conversational preference format and as KTO rows, loaded with the
dataset card's own lines, and trained on by TRL's RewardTrainer and KTOTrainer (tiny models
built here from a config: no hub access)."""

import copy

import pytest

from annotations.export.bundle import write_bundle
from annotations.export.options import ExportOptions
from annotations.roles import grant_role

from .factories import make_project, make_prompt, make_user
from .test_export_end_to_end import hf_offline, run_the_card_lines  # noqa: F401 (fixture)

CHATS = [
    [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"},
     {"role": "assistant", "content": "hello"}, {"role": "user", "content": "a joke please"}],
    [{"role": "user", "content": "why is the sky blue"}],
]
REPLIES = ["a good joke", "a bad joke", "no joke"]


def rank_all(api, project, labelers, body_for):
    for labeler in labelers:
        client = api(labeler)
        while (task := client.post(f"/api/projects/{project.slug}/tasks/next/")).status_code == 200:
            ids = sorted(c["id"] for c in task.json()["completions"])
            answer = client.post(f"/api/assignments/{task.json()['assignment']}/ranking/", body_for(ids),
                                 format="json")
            assert answer.status_code == 201, answer.content


def tiny_tokenizer(texts):
    """A word-level tokenizer over the words of `texts`, with a chat template (TRL applies it)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = sorted({word for text in texts for word in text.split()} | {"system:", "user:", "assistant:"})
    vocab = {word: i for i, word in enumerate(["[PAD]", "[UNK]", "[BOS]", "[EOS]", *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]",
                                        bos_token="[BOS]", eos_token="[EOS]")
    tokenizer.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }} {% endfor %}"
                               "{% if add_generation_prompt %}assistant: {% endif %}")
    return tokenizer


def tiny_config(tokenizer, **extra):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                       pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, **extra)


TRAINING = dict(max_steps=2, per_device_train_batch_size=2, report_to=[], save_strategy="no", use_cpu=True,
                disable_tqdm=True, logging_steps=1)


@pytest.fixture
def exported(db, api, tmp_path, hf_offline):  # noqa: F811
    """The two bundles, loaded as the card says: (preference dataset, kto dataset)."""
    ranked = make_project("chat-ranked", labelers_per_prompt=2)
    judged = make_project("chat-thumbs", labelers_per_prompt=2, feedback="thumbs")
    for project in (ranked, judged):
        for chat in CHATS:
            make_prompt(project, REPLIES, messages=chat)
        make_prompt(project, REPLIES, text="plain prompt")  # a mixed project: one file all the same
    labelers = [make_user(f"l{i}", "labeler", ranked) for i in range(2)]
    for user in labelers:  # the same labelers judge the thumbs project
        grant_role(user, "labeler", judged)
    rank_all(api, ranked, labelers, lambda ids: {"tiers": [[cid] for cid in ids]})
    rank_all(api, judged, labelers, lambda ids: {"thumbs": {str(ids[0]): "up", str(ids[1]): "down"},
                                                 "flagged": ids[2:]})
    write_bundle(ranked, ExportOptions(), tmp_path / "preference")
    write_bundle(judged, ExportOptions(kind="kto"), tmp_path / "kto")
    return (run_the_card_lines(tmp_path / "preference", hf_offline)["train"],
            run_the_card_lines(tmp_path / "kto", hf_offline)["train"])


def test_reward_trainer_and_kto_trainer_train_on_the_exports(exported, tmp_path):
    import torch
    from transformers import LlamaForCausalLM, LlamaForSequenceClassification
    from trl import KTOConfig, KTOTrainer, RewardConfig, RewardTrainer

    preference, kto = exported
    assert preference.num_rows == 3 * 3 * 2 and kto.num_rows == 3 * 3 * 2  # 3 prompts, 2 labelers
    assert preference[0]["prompt"][-1]["role"] == "user" and preference[0]["chosen"][0]["role"] == "assistant"
    assert sorted(set(kto["label"])) == [False, True]
    texts = [m["content"] for chat in CHATS for m in chat] + REPLIES + ["plain prompt"]
    tokenizer = tiny_tokenizer(texts)
    torch.manual_seed(0)

    reward_model = LlamaForSequenceClassification(tiny_config(tokenizer, num_labels=1))
    reward = RewardTrainer(model=reward_model, processing_class=tokenizer,
                           args=RewardConfig(output_dir=str(tmp_path / "rm"), **TRAINING),
                           train_dataset=preference.select_columns(["prompt", "chosen", "rejected"]))
    result = reward.train()
    assert result.global_step == 2 and torch.isfinite(torch.tensor(result.training_loss))

    policy = LlamaForCausalLM(tiny_config(tokenizer))
    trainer = KTOTrainer(model=policy, ref_model=copy.deepcopy(policy), processing_class=tokenizer,
                         args=KTOConfig(output_dir=str(tmp_path / "kto"), **TRAINING),
                         train_dataset=kto.select_columns(["prompt", "completion", "label"]))
    result = trainer.train()
    assert result.global_step == 2 and torch.isfinite(torch.tensor(result.training_loss))
