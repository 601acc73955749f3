// Kateder's browser behaviour: streamed answers, citation dialog, feedback, upload progress.
// Loaded as a file (the Content-Security-Policy forbids inline scripts).
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function post(url, body) {
    return fetch(url, {method: "POST", body: body, credentials: "same-origin",
                       headers: {"X-CSRFToken": csrfToken()}});
  }

  // language switcher: submit on change (the button stays for keyboard and no-JS users)
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // buttons that need a confirmation
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.dataset.confirm)) { ev.preventDefault(); }
    });
  });

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  // ---- phones: the header's menu and the conversation list sit behind a button (CSS folds them) --
  function foldable(button, host) {
    if (!button || !host) { return; }
    button.hidden = false;
    host.classList.add("foldable");
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", open ? "true" : "false");
      host.classList.toggle("open", open);
    });
  }
  foldable(document.querySelector(".menu-toggle"), document.querySelector("header.top"));
  foldable(document.querySelector(".history-toggle"), document.querySelector(".chat-layout"));

  // ---- safe HTML from the server (answers, passages): copied element by element, never innerHTML --
  var SAFE_TAGS = {P: 1, BR: 1, STRONG: 1, EM: 1, CODE: 1, UL: 1, OL: 1, LI: 1, H4: 1, H5: 1, H6: 1, BLOCKQUOTE: 1,
                   MARK: 1, A: 1, BUTTON: 1, SPAN: 1, TABLE: 1, THEAD: 1, TBODY: 1, TR: 1, TH: 1, TD: 1};
  var SAFE_ATTRS = {"class": 1, "data-cite": 1, "aria-label": 1, "start": 1, "href": 1, "type": 1};

  function safeCopy(source, target) {
    Array.prototype.forEach.call(source.childNodes, function (node) {
      if (node.nodeType === 3) { target.appendChild(document.createTextNode(node.nodeValue)); return; }
      if (node.nodeType !== 1 || node.tagName === "SCRIPT" || node.tagName === "STYLE") { return; }
      if (!SAFE_TAGS[node.tagName]) { safeCopy(node, target); return; }  // an unknown element: its text only
      var el = document.createElement(node.tagName.toLowerCase());
      Array.prototype.forEach.call(node.attributes, function (a) {
        if (!SAFE_ATTRS[a.name]) { return; }
        if (a.name === "href" && !/^\/(?![\/\\])/.test(a.value)) { return; }  // links to our own pages only
        el.setAttribute(a.name, a.value);
      });
      safeCopy(node, el);
      target.appendChild(el);
    });
  }

  function setHtml(container, html) {
    var parsed = new DOMParser().parseFromString(html || "", "text/html");  // parsed inert: nothing runs
    container.textContent = "";
    safeCopy(parsed.body, container);
  }

  function plainText(node) {
    // the answer as text for the clipboard: paragraphs, list items, [n] for citation buttons
    var out = "";
    Array.prototype.forEach.call(node.childNodes, function (n) {
      if (n.nodeType === 3) { out += n.nodeValue.replace(/\s*\n\s*/g, " "); return; }
      if (n.nodeType !== 1 || n.classList.contains("visually-hidden") || n.classList.contains("quote-place") ||
          n.classList.contains("typing")) { return; }
      var tag = n.tagName;
      if (tag === "BR") { out += "\n"; }
      else if (tag === "BUTTON") { out += "[" + n.textContent.trim() + "]"; }
      else if (tag === "LI") {
        var list = n.parentNode;
        var start = parseInt(list.getAttribute("start") || "1", 10);
        var bullet = list.tagName === "OL" ? (Array.prototype.indexOf.call(list.children, n) + start) + ". " : "- ";
        out += bullet + plainText(n).trim() + "\n";
      } else if (/^(P|H\d|BLOCKQUOTE|UL|OL|TABLE|TR)$/.test(tag)) { out += "\n" + plainText(n).trim() + "\n\n"; }
      else { out += plainText(n); }
    });
    return out;
  }

  // ---- teacher: poll for new critical alerts (self-harm) on every teacher page ---------
  var live = document.getElementById("live-alert");
  if (live) {
    var seen = null;
    var check = function () {
      fetch(live.dataset.url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          if (seen !== null && data.critical > seen && data.courses.length) {
            live.textContent = live.dataset.text + " ";
            var a = document.createElement("a");
            a.href = data.courses[0].url; a.textContent = live.dataset.link + " (" + data.courses[0].code + ")";
            live.appendChild(a);
            live.hidden = false;
          }
          seen = data.critical;
        }).catch(function () {});
    };
    check();
    window.setInterval(check, parseInt(live.dataset.interval || "20000", 10));
  }

  // ---- classroom -------------------------------------------------------------
  var form = document.getElementById("ask-form");
  var i18n = (document.getElementById("i18n") || {dataset: {}}).dataset;

  function citeButtons(container, text, citations) {
    // text with [n] markers as buttons that open the source; built with DOM nodes (no innerHTML)
    var numbers = {};
    citations.forEach(function (c) { numbers[c.number] = c; });
    container.textContent = "";
    var re = /\[(\d{1,2})\]/g, last = 0, m;
    while ((m = re.exec(text)) !== null) {
      container.appendChild(document.createTextNode(text.slice(last, m.index)));
      var n = parseInt(m[1], 10);
      if (numbers[n]) {
        var b = document.createElement("button");
        b.type = "button"; b.className = "cite"; b.dataset.cite = String(n);
        b.setAttribute("aria-label", (i18n.source || "Source") + " " + n);
        b.textContent = String(n);
        container.appendChild(b);
      } else {
        container.appendChild(document.createTextNode(m[0]));
      }
      last = re.lastIndex;
    }
    container.appendChild(document.createTextNode(text.slice(last)));
  }

  function renderSources(article, citations) {
    var list = article.querySelector(".sources");
    list.textContent = "";
    citations.forEach(function (c) {
      var li = document.createElement("li");
      var b = document.createElement("button");
      b.type = "button"; b.className = "source";
      b.dataset.cite = String(c.number); b.dataset.passage = c.passage_id || "";
      b.dataset.document = c.document || ""; b.dataset.page = c.page || "";
      b.dataset.section = c.section || ""; b.dataset.excerpt = c.excerpt || "";
      var num = document.createElement("span"); num.className = "num"; num.textContent = String(c.number);
      b.appendChild(num);
      var label = " " + (c.label || c.document || "");
      if (!c.label && c.page) { label += ", " + (i18n.page || "page PAGE").replace("PAGE", c.page); }
      b.appendChild(document.createTextNode(label));
      li.appendChild(b); list.appendChild(li);
    });
    list.hidden = citations.length === 0;
  }

  function openSource(button) {
    var article = button.closest("article");
    var source = article.querySelector('.source[data-cite="' + button.dataset.cite + '"]') || button;
    var dialog = document.getElementById("source-dialog");
    if (!dialog) { return; }
    var d = source.dataset;
    document.getElementById("source-title").textContent = d.document || "";
    var where = [];
    if (d.page) { where.push((i18n.page || "page PAGE").replace("PAGE", d.page)); }
    if (d.section) { where.push(d.section); }
    document.getElementById("source-where").textContent = where.join(" · ");
    var quote = document.getElementById("source-text");
    quote.textContent = d.excerpt || "";
    var original = document.getElementById("source-original");
    if (original) { original.hidden = true; }
    dialog.showModal();
    if (d.passage && form) {
      fetch(form.dataset.passageUrl.replace("PASSAGE", encodeURIComponent(d.passage)), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (p) {
          if (!p) { return; }
          if (p.html) { setHtml(quote, p.html); } else if (p.text) { quote.textContent = p.text; }
          var link = document.getElementById("source-original");
          if (link && p.document_id && form.dataset.documentUrl) {
            // the document itself, rendered, scrolled to this passage and highlighted (classroom.document)
            var conversation = form.querySelector('input[name="conversation_id"]').value;
            link.href = form.dataset.documentUrl.replace(/\/0$/, "/" + p.document_id) + "?passage=" + encodeURIComponent(p.id) +
              (conversation ? "&c=" + encodeURIComponent(conversation) : "") + "#passage-" + encodeURIComponent(p.id);
            link.hidden = false;
          }
        })
        .catch(function () {});
    }
  }

  document.addEventListener("click", function (ev) {
    var cite = ev.target.closest("button.cite, button.source");
    if (cite) { openSource(cite); return; }
    var fb = ev.target.closest("button[data-feedback]");
    if (fb && form) { sendFeedback(fb); return; }
    var copy = ev.target.closest("button[data-copy]");
    if (copy) { copyAnswer(copy); }
  });

  function copyAnswer(button) {
    var article = button.closest("article");
    var status = article.querySelector(".feedback-status");
    var text = plainText(article.querySelector(".text")).replace(/[ \t]+\n/g, "\n").replace(/\n[ \t]+/g, "\n")
      .replace(/\n{3,}/g, "\n\n").trim();
    var sources = Array.prototype.map.call(article.querySelectorAll(".sources .source"), function (b) {
      return b.textContent.trim().replace(/^(\d+)\s+/, "[$1] ");
    });
    if (sources.length) { text += "\n\n" + (i18n.sources || "Sources") + ":\n" + sources.join("\n"); }
    var copied = function () { status.textContent = i18n.copied; };
    var failed = function () { status.textContent = i18n.copyFailed; };
    var byHand = function () {  // older browsers, or no clipboard permission
      var area = document.createElement("textarea");
      area.value = text; area.setAttribute("readonly", ""); area.className = "visually-hidden";
      document.body.appendChild(area); area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      area.remove(); button.focus();
      if (ok) { copied(); } else { failed(); }
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(copied, byHand);
    } else {
      byHand();
    }
  }

  function sendFeedback(button) {
    var article = button.closest("article");
    var id = article.dataset.messageId;
    if (!id) { return; }
    var body = new FormData();
    body.append("feedback", button.dataset.feedback);
    var url = form.dataset.feedbackUrl.replace("/0/", "/" + id + "/");
    var status = article.querySelector(".feedback-status");
    post(url, body).then(function (r) {
      if (!r.ok) { throw new Error(String(r.status)); }
      article.querySelectorAll("button[data-feedback]").forEach(function (b) {
        b.setAttribute("aria-pressed", b === button ? "true" : "false");
      });
      status.textContent = button.dataset.feedback === "report" ? i18n.reported : i18n.thanks;
    }).catch(function () { status.textContent = i18n.error; });
  }

  function parseFrames(buffer, onEvent) {
    // split complete SSE frames off the buffer; return the unfinished rest
    var parts = buffer.split("\n\n");
    var rest = parts.pop();
    parts.forEach(function (frame) {
      var event = "message", data = "";
      frame.split("\n").forEach(function (line) {
        if (line.indexOf("event: ") === 0) { event = line.slice(7); }
        else if (line.indexOf("data: ") === 0) { data += line.slice(6); }
      });
      try { onEvent(event, JSON.parse(data || "null")); } catch (e) { /* ignore a broken frame */ }
    });
    return rest;
  }

  if (form) {
    var messages = document.getElementById("messages");
    var question = document.getElementById("question");
    var status = document.getElementById("ask-status");
    var submit = form.querySelector('button[type="submit"]');

    var stop = document.getElementById("stop-answer");
    var controller = null;
    question.focus();
    question.addEventListener("keydown", function (ev) {
      // Enter sends, Shift+Enter adds a line (not while an input method is composing)
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); if (!submit.disabled) { form.requestSubmit(); } }
    });
    if (stop) { stop.addEventListener("click", function () { if (controller) { controller.abort(); } }); }

    // "Ask again": the same question once more in this conversation (it counts as a question)
    messages.addEventListener("click", function (ev) {
      var again = ev.target.closest("button[data-regenerate]");
      if (!again || submit.disabled) { return; }
      var asked = again.closest("article").previousElementSibling;
      while (asked && !asked.classList.contains("user")) { asked = asked.previousElementSibling; }
      if (!asked) { return; }
      question.value = asked.querySelector(".text").textContent;
      form.requestSubmit();
    });

    // the newest text stays in sight (above the question box, which is sticky on phones)
    function atBottom() {
      var root = document.documentElement;
      return root.scrollHeight - (window.scrollY + window.innerHeight) < 120;
    }
    function toBottom() { window.scrollTo(0, document.documentElement.scrollHeight); }

    function busy(on) {
      submit.disabled = on;
      messages.querySelectorAll("button[data-regenerate]").forEach(function (b) { b.disabled = on; });
    }

    function crisisLinks(article, textNode) {
      // helpline numbers become tap-to-call links; a helpline with a chat gets its link
      var text = textNode.textContent;
      textNode.textContent = "";
      var last = 0;
      text.replace(/\d[\d ]*\d/g, function (number, at) {
        textNode.appendChild(document.createTextNode(text.slice(last, at)));
        var a = document.createElement("a"); a.href = "tel:" + number.replace(/ /g, ""); a.textContent = number;
        textNode.appendChild(a); last = at + number.length; return number;
      });
      textNode.appendChild(document.createTextNode(text.slice(last)));
      var chats = JSON.parse(i18n.helplineChats || "{}");
      Object.keys(chats).forEach(function (name) {
        if (text.indexOf(name) < 0) { return; }
        var p = document.createElement("p"); p.className = "helpline-chat";
        var a = document.createElement("a"); a.href = chats[name]; a.rel = "noopener"; a.target = "_blank";
        a.textContent = i18n.chatWith.replace("NAME", name); p.appendChild(a); article.insertBefore(p, textNode.nextSibling);
      });
    }

    function questionsLeft(n) {
      var counter = document.getElementById("questions-left");
      if (!counter || n === null || n === undefined) { return; }
      counter.textContent = n === 1 ? counter.dataset.one : counter.dataset.many.replace("7", String(n));
    }

    function showConversation(data) {
      // the address follows the conversation, and the list shows it at once
      if (data.conversation_url && window.location.pathname !== data.conversation_url) {
        window.history.pushState({conversation: data.conversation_id}, "", data.conversation_url);
      }
      var list = document.getElementById("conversation-list");
      if (!list || !data.conversation_title) { return; }
      var empty = document.getElementById("no-conversations");
      if (empty) { empty.hidden = true; }
      var item = list.querySelector('li[data-conversation-id="' + data.conversation_id + '"]');
      if (!item) {
        item = document.createElement("li"); item.dataset.conversationId = data.conversation_id;
        var link = document.createElement("a"); link.href = data.conversation_url;
        var name = document.createElement("span"); name.className = "conv-title";
        link.appendChild(name); item.appendChild(link); list.insertBefore(item, list.firstChild);
        var toggle = document.querySelector(".history-toggle");
        if (toggle) { toggle.textContent = toggle.dataset.label + " (" + list.children.length + ")"; }
      }
      list.querySelectorAll("a[aria-current]").forEach(function (a) { a.removeAttribute("aria-current"); });
      item.querySelector("a").setAttribute("aria-current", "page");
      item.querySelector(".conv-title").textContent = data.conversation_title;
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = question.value.trim();
      if (!text) { return; }
      var mine = document.createElement("article");
      mine.className = "msg user";
      var p = document.createElement("p"); p.className = "text"; p.textContent = text;
      mine.appendChild(p); messages.appendChild(mine);

      var article = document.getElementById("answer-template").content.firstElementChild.cloneNode(true);
      var textNode = article.querySelector(".text");
      messages.appendChild(article);
      toBottom();
      article.setAttribute("aria-busy", "true");
      status.textContent = i18n.thinking;
      busy(true);
      controller = window.AbortController ? new AbortController() : null;
      if (stop) { stop.hidden = false; }
      var body = new FormData(form);
      question.value = "";
      var sentences = [];

      function finish() {
        busy(false); status.textContent = ""; controller = null;
        if (stop) { stop.hidden = true; }
        var typing = textNode.querySelector(".typing");
        if (typing) { typing.remove(); }
        article.setAttribute("aria-busy", "false");
        question.focus();
      }

      function handle(event, data) {
        var stick = atBottom();
        show(event, data);
        if (stick) { toBottom(); }
      }

      function show(event, data) {
        if (event === "meta") {
          form.querySelector('input[name="conversation_id"]').value = data.conversation_id;
          if (data.language) { textNode.lang = data.language; p.lang = data.language; }  // the answer's own language
        } else if (event === "sentence") {
          sentences.push(data.text);
          if (data.html !== undefined) { setHtml(textNode, data.html); } else { textNode.textContent = sentences.join(" "); }
          status.textContent = "";
        } else if (event === "refusal") {
          article.classList.add(data.action === "crisis" ? "crisis" : "refusal");
          if (data.action === "crisis") {
            var title = document.createElement("p"); title.className = "crisis-title"; title.textContent = i18n.crisisTitle;
            article.insertBefore(title, textNode);
          }
          sentences.push(data.text);
          textNode.textContent = sentences.join(" ");
          if (data.action === "crisis") { crisisLinks(article, textNode); }
        } else if (event === "done") {
          article.dataset.messageId = data.message_id;
          article.dataset.sentences = String(sentences.length);
          if (data.action !== "crisis") {  // the crisis card keeps its tap-to-call links
            if (data.answer_html !== undefined) { setHtml(textNode, data.answer_html); }
            else { citeButtons(textNode, data.answer, data.citations || []); }
          }
          renderSources(article, data.citations || []);
          article.querySelector(".answer-actions").hidden = data.action === "crisis";
          questionsLeft(data.questions_left);
          showConversation(data);
          (data.notices || []).forEach(function (notice) {
            var note = document.createElement("p");
            note.className = "notice"; note.setAttribute("role", "note"); note.textContent = notice;
            article.insertBefore(note, textNode);
          });
          if (data.action === "crisis" && !article.classList.contains("crisis")) { article.classList.add("crisis"); }
        } else if (event === "error") {
          article.classList.add("refusal");
          textNode.textContent = data.error === "daily_limit" ? i18n.limit : (data.message || i18n.error);
        }
      }

      fetch(form.action, {method: "POST", body: body, credentials: "same-origin", headers: {"X-CSRFToken": csrfToken()},
                          signal: controller ? controller.signal : undefined}).then(function (response) {
        if (response.status === 429) { handle("error", {message: i18n.busy}); return; }
        if (!response.ok || !response.body) { handle("error", {message: i18n.error}); return; }
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) { parseFrames(buffer + "\n\n", handle); return; }
            buffer = parseFrames(buffer + decoder.decode(chunk.value, {stream: true}), handle);
            return pump();
          });
        }
        return pump();
      }).catch(function (err) {
        if (err && err.name === "AbortError") {
          var note = document.createElement("p"); note.className = "notice"; note.setAttribute("role", "note");
          note.textContent = i18n.stopped; article.appendChild(note);
          return;
        }
        handle("error", {message: i18n.error});
      }).then(finish);
    });
  }

  // ---- teacher: uploads with a progress bar per file ---------------------------
  var upload = document.getElementById("upload-form");
  if (upload) {
    var list = document.getElementById("upload-list");
    var labels = document.getElementById("upload-i18n").dataset;
    upload.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var files = upload.querySelector('input[type="file"]').files;
      Array.prototype.forEach.call(files, function (file) { sendFile(file); });
      upload.reset();
    });

    function sendFile(file) {
      var li = document.createElement("li");
      li.className = "upload";
      var name = document.createElement("span"); name.className = "name"; name.textContent = file.name;
      var bar = document.createElement("progress"); bar.max = 100; bar.value = 0;
      bar.setAttribute("aria-label", file.name);
      var stage = document.createElement("span"); stage.className = "stage"; stage.setAttribute("role", "status");
      stage.textContent = labels.queued;
      li.appendChild(name); li.appendChild(bar); li.appendChild(stage);
      var cancel = document.createElement("button");
      cancel.type = "button"; cancel.className = "small"; cancel.hidden = true; cancel.textContent = labels.cancel;
      cancel.setAttribute("aria-label", labels.cancel + ": " + file.name);
      li.appendChild(cancel);
      list.appendChild(li);
      var body = new FormData();
      body.append("file", file);
      post(upload.action, body).then(function (r) {
        return r.json().then(function (data) { return {ok: r.ok, data: data}; });
      }).then(function (res) {
        if (!res.ok) { fail(res.data.message || labels.failed); return; }
        var url = upload.dataset.jobUrl.replace(/\/0$/, "/" + res.data.id);
        cancel.hidden = false;
        cancel.addEventListener("click", function () {
          cancel.disabled = true;
          post(url + "/cancel", new FormData());
        });
        poll(url);
      }).catch(function () { fail(labels.failed); });

      function fail(message) { li.classList.add("failed"); stage.textContent = message; cancel.hidden = true; }

      // the material list refreshes itself on this (static/teacher.js)
      function finished(job) {
        document.dispatchEvent(new CustomEvent("kateder:job-finished", {detail: {id: job.id, status: job.status}}));
      }

      function poll(url) {
        fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (job) {
          var percent = Math.round(job.progress || 0);
          bar.value = percent;
          if (job.status === "cancelled") {
            fail(labels.cancelled); finished(job);
          } else if (job.status === "done") {
            bar.value = 100; li.classList.add("done"); cancel.hidden = true;
            var result = job.result || {};
            stage.textContent = labels.done + (result.held ? " · " + labels.held : "");
            finished(job);
          } else if (job.status === "failed") {
            fail(labels.failed + ": " + (job.error || "")); finished(job);
          } else {
            stage.textContent = (labels["stage_" + job.stage] || job.stage) + " · " + percent + " %";
            window.setTimeout(function () { poll(url); }, 300);
          }
        }).catch(function () { window.setTimeout(function () { poll(url); }, 1000); });
      }
    }
  }
})();
