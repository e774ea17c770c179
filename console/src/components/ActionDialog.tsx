import { useId, useLayoutEffect, useRef, useState, type ReactNode } from 'react';

export interface ActionDialogProps {
  title: string;
  confirmLabel: string;
  /** False keeps the confirm button disabled (e.g. until the typed fingerprint matches). */
  canConfirm?: boolean;
  /** The action cannot be undone: its button looks it. */
  final?: boolean;
  /** Runs the action; resolves to a problem in words, or undefined when it succeeded. */
  onConfirm(): Promise<string | undefined>;
  onClose(): void;
  children: ReactNode;
}

/**
 * A modal dialog for one action that changes trust: the browser's <dialog> keeps focus
 * inside, closes on Escape and gives focus back when it closes. It is closed before it
 * leaves the page (a dialog removed while open gives focus to no one). A problem the
 * server reports stays beside the button, in words.
 */
export function ActionDialog({ title, confirmLabel, canConfirm = true, final = false, onConfirm, onClose, children }: ActionDialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const [running, setRunning] = useState(false);
  const [problem, setProblem] = useState<string>();
  useLayoutEffect(() => {
    const dialog = ref.current;
    dialog?.showModal();
    // Before React removes it, should the page drop it while open.
    return () => dialog?.close();
  }, []);
  const close = () => ref.current?.close();
  const confirm = async () => {
    setRunning(true);
    setProblem(undefined);
    const outcome = await onConfirm();
    setRunning(false);
    if (outcome) setProblem(outcome);
    else close();
  };
  return (
    // Closed by Escape, Cancel or success alike: the browser has given focus back by then.
    <dialog ref={ref} aria-labelledby={titleId} onClose={onClose} className="action-dialog">
      <h2 id={titleId}>{title}</h2>
      {children}
      <div className="actions">
        <button type="button" className={final ? 'primary final' : 'primary'} disabled={!canConfirm || running} onClick={confirm}>
          {running ? 'Working…' : confirmLabel}
        </button>
        <button type="button" onClick={close}>
          Cancel
        </button>
      </div>
      {problem && (
        <p role="alert" className="problem">
          {problem}
        </p>
      )}
    </dialog>
  );
}
