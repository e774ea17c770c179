import { useEffect, useId, useRef, useState, type ReactNode } from 'react';

export interface ActionDialogProps {
  title: string;
  confirmLabel: string;
  /** False keeps the confirm button disabled (e.g. until the typed fingerprint matches). */
  canConfirm?: boolean;
  /** Runs the action; resolves to a problem in words, or undefined when it succeeded. */
  onConfirm(): Promise<string | undefined>;
  onClose(): void;
  children: ReactNode;
}

/**
 * A modal dialog for one action that changes trust: the browser's <dialog> keeps focus
 * inside, closes on Escape and gives focus back when it closes. A problem the server
 * reports stays beside the button, in words.
 */
export function ActionDialog({ title, confirmLabel, canConfirm = true, onConfirm, onClose, children }: ActionDialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const [running, setRunning] = useState(false);
  const [problem, setProblem] = useState<string>();
  useEffect(() => {
    const dialog = ref.current;
    dialog?.showModal();
    return () => dialog?.close();
  }, []);
  const confirm = async () => {
    setRunning(true);
    setProblem(undefined);
    const outcome = await onConfirm();
    setRunning(false);
    if (outcome) setProblem(outcome);
    else onClose();
  };
  return (
    <dialog ref={ref} aria-labelledby={titleId} onCancel={onClose} className="action-dialog">
      <h2 id={titleId}>{title}</h2>
      {children}
      <div className="actions">
        <button type="button" className="primary" disabled={!canConfirm || running} onClick={confirm}>
          {running ? 'Working…' : confirmLabel}
        </button>
        <button type="button" onClick={onClose}>
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
