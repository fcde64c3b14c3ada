// The resend editor on a call of the list: its request comes from the call's detail.
import { useFlowDetail } from '../stores/details';
import { ResendDialog } from './ResendDialog';

interface Props {
  id: string;
  onClose: () => void;
  onSent: (id: string) => void;
}

export function FlowResendDialog({ id, onClose, onSent }: Props) {
  const { detail, error } = useFlowDetail(id);
  // While the detail loads the request is undefined; a failed read shows it as not known.
  const request = detail ? (detail.request ?? null) : error ? null : undefined;
  return (
    <ResendDialog
      source={{ ref: id, path: detail?.path ?? '', request, model: detail?.model ?? null }}
      onClose={onClose}
      onSent={onSent}
    />
  );
}
