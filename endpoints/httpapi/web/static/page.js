// The status page's only script: refresh, and buttons that call the API.
// Requests go to the same origin with the session cookie; the browser adds
// Origin and Sec-Fetch-Site, which the server checks on every POST.
"use strict";

let busy = false;

function say(text) {
  document.getElementById("msg").textContent = text;
}

async function post(button) {
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) {
    return;
  }
  busy = true;
  button.disabled = true;
  const label = button.textContent;
  if (button.dataset.busy) {
    button.textContent = button.dataset.busy;
  }
  try {
    const resp = await fetch(button.dataset.post, { method: "POST", credentials: "same-origin" });
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      say(body.error || resp.statusText);
      button.disabled = false;
      button.textContent = label;
      busy = false;
      return;
    }
    say("Done.");
    window.location.reload();
  } catch (e) {
    say("The daemon does not answer: " + e.message);
    button.disabled = false;
    button.textContent = label;
    busy = false;
  }
}

document.addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-post]");
  if (b) {
    ev.preventDefault();
    post(b);
  }
});

setInterval(() => {
  if (!busy && document.visibilityState === "visible") {
    window.location.reload();
  }
}, 10000);
