"""Create, in the local emulator, what a real organization already has for an environment file:
an admin role per account, the environments' Lambda functions, and a device certificate for the IoT
account (written under .xacct/sandbox/, private key mode 0600). Used by scripts/sandbox-demo."""
import io, json, os, sys, zipfile

import boto3
import yaml

endpoint = os.environ["AWS_ENDPOINT_URL"]
cfg = yaml.safe_load(open(sys.argv[1]))
out_dir = sys.argv[2] if len(sys.argv) > 2 else ".xacct/sandbox"
region = cfg["region"]
base = boto3.session.Session(aws_access_key_id="sandbox", aws_secret_access_key="sandbox", region_name=region)


def session(account):
    creds = base.client("sts", endpoint_url=endpoint).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/Admin", RoleSessionName="bootstrap")["Credentials"]
    return boto3.session.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                 aws_session_token=creds["SessionToken"], region_name=region)


def admin_role(s, account):
    iam = s.client("iam", endpoint_url=endpoint)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}]}
    try:
        iam.create_role(RoleName="Admin", AssumeRolePolicyDocument=json.dumps(trust))
        admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_role_policy(RoleName="Admin", PolicyName="administrator", PolicyDocument=json.dumps(admin))
    except iam.exceptions.EntityAlreadyExistsException:
        pass


def zip_bytes():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


iot_account = cfg["iot"]["account"]
admin_role(session(iot_account), iot_account)
for name, env in cfg["environments"].items():
    account = env["account"]
    s = session(account)
    admin_role(s, account)
    iam = s.client("iam", endpoint_url=endpoint)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    try:
        exec_role = iam.create_role(RoleName="lambda-exec", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        exec_role = iam.get_role(RoleName="lambda-exec")["Role"]["Arn"]
    lam = s.client("lambda", endpoint_url=endpoint)
    for f in env["functions"]:
        fname = f.split(":")[-1] if f.startswith("arn:") else f
        try:
            lam.create_function(FunctionName=fname, Runtime="python3.12", Role=exec_role, Handler="index.handler",
                                Code={"ZipFile": zip_bytes()})
            print(f"bootstrap: {name}: function {fname} in account {account}")
        except lam.exceptions.ResourceConflictException:
            pass

os.makedirs(out_dir, exist_ok=True)
iot = session(iot_account).client("iot", endpoint_url=endpoint)
cert = iot.create_keys_and_certificate(setAsActive=True)
with open(os.path.join(out_dir, "device.pem.crt"), "w") as fh:
    fh.write(cert["certificatePem"])
key_path = os.path.join(out_dir, "device.private.key")
fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as fh:
    fh.write(cert["keyPair"]["PrivateKey"])
with open(os.path.join(out_dir, "device.id"), "w") as fh:
    fh.write(cert["certificateId"] + "\n")
print(f"bootstrap: device certificate {cert['certificateId'][:12]}… written to {out_dir}/")
