"""The SMTP gateway: decides who may send what to which address, makes mail durable, then answers 250."""
