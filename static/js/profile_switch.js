// The composer's model menu (issue 14): choosing a profile makes it the one the next answers
// come from, at once (a fetch to the same form's action); without JavaScript the form's Use
// button posts it. The words shown are the server's (data-* attributes, translated there).

const form = document.getElementById("profile-switch");
if (form) {
  const select = form.querySelector("select");
  const status = form.querySelector("#profile-status");
  const badge = document.querySelector(".profile-badge");
  form.querySelector("#profile-apply").hidden = true;
  let applied = select.value;

  async function apply() {
    const body = new FormData(form);
    status.textContent = "";
    let answer;
    try {
      const response = await fetch(form.action, {
        method: "POST", body, credentials: "same-origin", headers: { Accept: "application/json" },
      });
      answer = await response.json();
      if (!response.ok) throw new Error(answer.error || response.statusText);
    } catch (error) {
      select.value = applied;
      status.dataset.state = "error";
      status.textContent = form.dataset.failed.replace("{reason}", error.message);
      return;
    }
    applied = answer.profile.name;
    status.dataset.state = "ok";
    status.textContent = form.dataset.switched.replace("{label}", answer.profile.label);
    if (badge) badge.textContent = answer.profile.label;
  }

  select.addEventListener("change", apply);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply();
  });
}
