// The widget's CSS, scoped by its shadow root (the host page's styles never leak in or out).

export const CSS = `
:host { all: initial; }
* { box-sizing: border-box; font-family: system-ui, -apple-system, "PingFang SC", "Microsoft YaHei", sans-serif; }
.launcher { position: fixed; bottom: 20px; width: 56px; height: 56px; border-radius: 50%; border: 0;
  background: var(--rd-color); color: #fff; cursor: pointer; box-shadow: 0 4px 16px rgba(0,0,0,.25);
  display: flex; align-items: center; justify-content: center; z-index: 2147483000; }
.launcher svg { width: 28px; height: 28px; fill: currentColor; }
.right { right: 20px; } .left { left: 20px; }
.badge { position: absolute; top: -2px; right: -2px; min-width: 20px; height: 20px; padding: 0 5px;
  border-radius: 10px; background: #cf222e; color: #fff; font-size: 12px; line-height: 20px; }
.panel { position: fixed; bottom: 88px; width: 370px; height: min(600px, calc(100vh - 110px));
  background: #fff; color: #1f2328; border-radius: 12px; box-shadow: 0 8px 32px rgba(0,0,0,.25);
  display: flex; flex-direction: column; overflow: hidden; z-index: 2147483000; font-size: 14px; }
.panel[hidden], [hidden] { display: none !important; }
header { background: var(--rd-color); color: #fff; padding: 14px 16px; display: flex;
  align-items: center; gap: 8px; }
header h2 { flex: 1; margin: 0; font-size: 16px; font-weight: 600; }
header button { background: transparent; border: 0; color: #fff; font-size: 22px; cursor: pointer; line-height: 1; }
.banner { padding: 8px 12px; background: #fff8c5; color: #633c01; font-size: 13px; }
.log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 8px; background: #f6f8fa; }
.msg { max-width: 80%; padding: 8px 12px; border-radius: 12px; white-space: pre-wrap; word-break: break-word;
  line-height: 1.45; }
.msg.in { align-self: flex-end; background: var(--rd-color); color: #fff; border-bottom-right-radius: 4px; }
.msg.out { align-self: flex-start; background: #fff; border: 1px solid #d0d7de; border-bottom-left-radius: 4px; }
.msg img { display: block; max-width: 100%; max-height: 220px; border-radius: 6px; margin-top: 4px; }
.msg a { color: inherit; text-decoration: underline; }
.meta { font-size: 11px; opacity: .75; margin-top: 2px; }
.failed { cursor: pointer; color: #cf222e; }
.note { align-self: center; font-size: 12px; color: #57606a; text-align: center; }
.typing { padding: 0 14px 6px; font-size: 12px; color: #57606a; background: #f6f8fa; }
form.composer { display: flex; align-items: flex-end; gap: 6px; padding: 8px; border-top: 1px solid #d0d7de; }
textarea { flex: 1; resize: none; border: 1px solid #d0d7de; border-radius: 8px; padding: 8px; font-size: 14px;
  max-height: 120px; min-height: 38px; outline-color: var(--rd-color); }
.icon { background: transparent; border: 0; cursor: pointer; padding: 6px; color: #57606a; }
.icon svg { width: 22px; height: 22px; fill: currentColor; }
.primary { background: var(--rd-color); color: #fff; border: 0; border-radius: 8px; padding: 9px 14px;
  cursor: pointer; font-size: 14px; }
.primary:disabled { opacity: .6; cursor: default; }
form.card { padding: 16px; display: flex; flex-direction: column; gap: 10px; overflow-y: auto; flex: 1; }
form.card p { margin: 0 0 4px; color: #57606a; }
label { display: flex; flex-direction: column; gap: 4px; font-size: 13px; color: #1f2328; }
input { border: 1px solid #d0d7de; border-radius: 8px; padding: 8px; font-size: 14px; }
.error { color: #cf222e; font-size: 13px; }
@media (max-width: 480px) {
  .panel { inset: 0; width: 100%; height: 100%; border-radius: 0; bottom: 0; }
  textarea, input { font-size: 16px; }
}
`
