import nodemailer from 'nodemailer';

/** Outgoing mail. Tests use a fake that records messages; production uses SMTP. */
export interface Mailer {
  send(message: { to: string; subject: string; text: string }): Promise<void>;
}

/** Undefined when SMTP_URL is not set: features then offer another way (e.g. a CLI command). */
export function createSmtpMailer(options: {
  url: string | undefined;
  from: string;
}): Mailer | undefined {
  if (!options.url) return undefined;
  const transport = nodemailer.createTransport(options.url);
  return {
    async send(message) {
      await transport.sendMail({ from: options.from, ...message });
    },
  };
}
