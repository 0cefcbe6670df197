# The pixel data offset and length of each stored instance (imaging.pixels); instances imported
# before have none until ``manage.py instance_pixel_offsets`` fills them (they are parsed per
# request meanwhile).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("readerstudy", "0017_comparative_readings"),
    ]

    operations = [
        migrations.AddField(
            model_name="dicominstance",
            name="pixel_offset",
            field=models.PositiveBigIntegerField(
                blank=True,
                help_text="Byte offset of the native pixel data in the file (None: parse it).",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="dicominstance",
            name="pixel_length",
            field=models.PositiveBigIntegerField(
                blank=True, help_text="Length in bytes of the frame's native pixel data.", null=True
            ),
        ),
    ]
