"""How the demo page looks, and the script that lets an image be dropped anywhere on it.

Colours come from the shared theme vocabulary (:mod:`jupyter_mlops.kernel_client.theme`), so
the page reads in Voilà's dark theme (``?theme=dark``) as well as in its light one.
"""

from __future__ import annotations

from jupyter_mlops.kernel_client.theme import variables

STYLE = (
    "<style>\n"
    + variables(".mlops-demo")
    + """.mlops-demo { max-width: 760px; margin: 0 auto; font-family: system-ui, -apple-system,
  "Segoe UI", Roboto, sans-serif; color: var(--mlops-text); gap: 12px; }
.mlops-demo h1 { font-size: 26px; margin: 8px 0 0 0; font-weight: 650; }
.mlops-demo .sub { color: var(--mlops-muted); font-size: 14px; margin-top: 2px; }
.mlops-demo-status .pill { display: inline-block; padding: 2px 10px; border-radius: 999px;
  font-size: 12px; font-weight: 600; }
.mlops-demo-status .live { background: var(--mlops-ok-tint); color: var(--mlops-ok-text); }
.mlops-demo-status .down { background: var(--mlops-warn-tint); color: var(--mlops-warn-text); }
.mlops-demo-card { border: 1px solid var(--mlops-border); border-radius: 10px; padding: 14px 16px;
  background: var(--mlops-card); }
.mlops-demo-card .title { font-size: 12px; letter-spacing: .06em; text-transform: uppercase;
  color: var(--mlops-muted); font-weight: 700; margin-bottom: 6px; }
.mlops-demo-sha1 { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 15px;
  font-weight: 600; word-break: break-all; }
.mlops-demo-card .grid { display: grid; grid-template-columns: 130px 1fr; row-gap: 4px;
  font-size: 14px; margin-top: 6px; }
.mlops-demo-card .k { color: var(--mlops-muted); }
.mlops-demo .badge { display: inline-block; padding: 1px 8px; border-radius: 6px; font-size: 12px;
  font-weight: 700; margin-left: 6px; }
.mlops-demo .auto { background: var(--mlops-busy-tint); color: var(--mlops-busy-text); }
.mlops-demo .manual { background: var(--mlops-manual-tint); color: var(--mlops-manual-text); }
.mlops-demo .chip { display: inline-block; padding: 1px 8px; margin: 2px 4px 2px 0;
  border-radius: 999px; background: var(--mlops-raised); font-size: 13px; }
.mlops-demo-decision { font-size: 14px; }
.mlops-demo-decision .facts { color: var(--mlops-muted); font-size: 13px; margin-top: 2px; }
.mlops-demo-decision .mlops-demo-bypassed { color: var(--mlops-manual-text); }
.mlops-demo-empty { color: var(--mlops-muted); font-size: 15px; }
.mlops-demo-notice { border-radius: 8px; padding: 10px 14px; background: var(--mlops-ok-tint);
  border: 1px solid var(--mlops-ok-edge); color: var(--mlops-ok-text); font-size: 14px; }
.mlops-demo-load-error, .mlops-demo-error { border-radius: 8px; padding: 10px 14px;
  background: var(--mlops-bad-tint); border: 1px solid var(--mlops-bad-edge);
  color: var(--mlops-bad-text); font-size: 14px; }
.mlops-demo-upload-row { align-items: center; gap: 12px; }
.mlops-demo-busy .spinner { display: inline-block; width: 16px; height: 16px;
  border: 3px solid var(--mlops-line); border-top-color: var(--mlops-busy); border-radius: 50%;
  animation: mlops-spin .8s linear infinite; vertical-align: middle; margin-right: 8px; }
@keyframes mlops-spin { to { transform: rotate(360deg); } }
.mlops-demo-result .box { display: flex; gap: 18px; align-items: flex-start;
  border: 1px solid var(--mlops-border); border-radius: 10px; padding: 14px 16px; }
.mlops-demo-result img { max-width: 160px; max-height: 160px; border-radius: 6px;
  image-rendering: auto; box-shadow: 0 1px 3px var(--mlops-shadow); }
.mlops-demo-result .bars { flex: 1; }
.mlops-demo-result .headline { font-size: 20px; font-weight: 650; margin-bottom: 8px; }
.mlops-demo-bar { display: grid; grid-template-columns: 110px 1fr 64px; align-items: center;
  gap: 8px; margin: 5px 0; font-size: 14px; }
.mlops-demo-bar .track { background: var(--mlops-raised); border-radius: 4px; height: 14px;
  overflow: hidden; }
.mlops-demo-bar .fill { background: var(--mlops-busy); height: 100%; border-radius: 4px; }
.mlops-demo-bar.best .fill { background: var(--mlops-ok); }
.mlops-demo-bar .pct { text-align: right; font-variant-numeric: tabular-nums; }
.mlops-demo-result.stale { opacity: .5; }
.mlops-demo-result .meta { color: var(--mlops-muted); font-size: 12px; margin-top: 8px; }
.mlops-demo-upload { display: inline-flex; align-items: center; padding: 0 14px; height: 32px;
  cursor: pointer; border-radius: 4px; }
.mlops-demo-dropping { outline: 3px dashed var(--mlops-busy); outline-offset: 6px;
  border-radius: 10px; }
</style>"""
)

#: The page's file input and dropping a file anywhere on the page both hand the file to the
#: hidden ``mlops-demo-drop`` text widget as JSON (``name`` and base64 ``data``, or ``size``
#: when it is over the limit, so nothing that large is sent); the kernel classifies it.
PAGE_SCRIPT = """<script>
(() => {
  if (window.__mlopsDemoFiles) { return; }
  window.__mlopsDemoFiles = true;
  const LIMIT = %(limit)d;
  const page = () => document.querySelector('.mlops-demo');
  const hasFiles = e => e.dataTransfer && Array.from(e.dataTransfer.types || []).includes('Files');
  const hand = message => {
    const box = document.querySelector('.mlops-demo-drop textarea');
    if (!box) { return; }
    box.value = JSON.stringify(message);
    box.dispatchEvent(new Event('input', { bubbles: true }));
  };
  const send = file => {
    if (!file) { return; }
    if (file.size > LIMIT) { hand({ name: file.name, size: file.size }); return; }
    const reader = new FileReader();
    reader.onload = () => {
      hand({ name: file.name, data: String(reader.result).split(',')[1] || '' });
    };
    reader.readAsDataURL(file);
  };
  document.addEventListener('change', e => {
    const input = e.target;
    if (input && input.matches && input.matches('.mlops-demo-upload input[type=file]')) {
      send(input.files[0]);
      input.value = '';
    }
  });
  document.addEventListener('dragover', e => {
    if (!hasFiles(e)) { return; }
    e.preventDefault();
    page() && page().classList.add('mlops-demo-dropping');
  });
  document.addEventListener('dragleave', e => {
    if (e.relatedTarget === null && page()) { page().classList.remove('mlops-demo-dropping'); }
  });
  document.addEventListener('drop', e => {
    if (!hasFiles(e)) { return; }
    e.preventDefault();
    page() && page().classList.remove('mlops-demo-dropping');
    send(e.dataTransfer.files[0]);
  });
})();
</script>"""

#: The file chooser (a plain file input inside a button-looking label).
UPLOAD_BUTTON = (
    "<label class='mlops-demo-upload jupyter-button mod-primary widget-button'>"
    "Choose an image<input type='file' accept='image/*' style='display:none'></label>"
)
