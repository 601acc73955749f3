"""A LangChain chat model over a local Hugging Face directory: transformers ``generate``, streamed.

Loads the tokenizer and causal LM from disk only (no hub access), applies the tokenizer's
chat template and streams with ``TextIteratorStreamer`` from a generation thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


class TransformersChat(BaseChatModel):
    """Greedy generation with a local transformers causal LM, streamed chunk by chunk."""

    model_path: str
    max_new_tokens: int = 160
    threads: int = 2

    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "kateder-transformers"

    def _load(self) -> tuple[Any, Any]:
        """Load the tokenizer and model once, from local files only."""
        with self._lock:
            if self._model is None:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer

                torch.set_num_threads(max(1, self.threads))
                self._tokenizer = AutoTokenizer.from_pretrained(
                    self.model_path, local_files_only=True
                )
                self._model = AutoModelForCausalLM.from_pretrained(
                    self.model_path, local_files_only=True
                ).eval()
        return self._model, self._tokenizer

    def _input_ids(self, messages: list[BaseMessage], tokenizer) -> Any:
        chat = [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]
        if getattr(tokenizer, "chat_template", None):
            encoded = tokenizer.apply_chat_template(
                chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
            return encoded["input_ids"]
        text = "\n".join(f"{m['role']}: {m['content']}" for m in chat) + "\nassistant:"
        return tokenizer(text, return_tensors="pt")["input_ids"]

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """Run ``generate`` in a thread and yield decoded text as it arrives."""
        from transformers import TextIteratorStreamer

        model, tokenizer = self._load()
        input_ids = self._input_ids(messages, tokenizer)
        streamer = TextIteratorStreamer(
            tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=120
        )
        errors: list[BaseException] = []

        def run() -> None:
            try:
                model.generate(
                    input_ids=input_ids,
                    attention_mask=input_ids.new_ones(input_ids.shape),
                    max_new_tokens=int(kwargs.get("max_tokens", self.max_new_tokens)),
                    do_sample=False,
                    streamer=streamer,
                    pad_token_id=tokenizer.pad_token_id
                    if tokenizer.pad_token_id is not None
                    else tokenizer.eos_token_id,
                )
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        for text in streamer:
            if text:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                if run_manager:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
        worker.join()
        if errors:
            raise errors[0]

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """The whole answer at once (joined from the stream)."""
        text = "".join(
            str(c.message.content) for c in self._stream(messages, stop, run_manager, **kwargs)
        )
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
