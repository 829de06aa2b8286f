// The admin pages' small helpers: a confirmation before destructive buttons (data-confirm)
// and copying a shown-once value to the clipboard (data-copy="#element-id").
"use strict";
(function () {
  document.addEventListener("submit", (event) => {
    const button = event.submitter;
    const question = button && button.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(() => {
      button.dataset.label = button.dataset.label || button.textContent;
      button.textContent = "✓ " + button.dataset.label;
    });
  });
})();
