"""UCF101 middle frames (``ucf101/UCF-101-midframes/<Renamed_Action>/``, ``ucfTrainTestlist/``, ``split_zhou_UCF101.json``)."""
import os
import re
from typing import Dict, List

from vlprompt.data import DATASET_REGISTRY, Datum
from vlprompt.data.readers import SplitFileDataset
from vlprompt.data.splits import Download, gdrive, read_text_lines, split_trainval


def read_ucf_list(image_dir: str, cname2lab: Dict[str, int], text_file: str) -> List[Datum]:
    """``Action/v_Action_gXX_cYY.avi [label]`` lines -> the video's middle frame under the CamelCase-split
    action folder (``ApplyEyeMakeup`` -> ``Apply_Eye_Makeup``), which is also the class name."""
    items = []
    for line in read_text_lines(text_file):
        action, filename = line.split(" ")[0].split("/")
        renamed = "_".join(re.findall("[A-Z][^A-Z]*", action))
        impath = os.path.join(image_dir, renamed, filename.replace(".avi", ".jpg"))
        items.append(Datum(impath=impath, label=cname2lab[action], classname=renamed))
    return items


@DATASET_REGISTRY.register()
class UCF101(SplitFileDataset):
    """Split 01: trainlist01 80/20 per class into train/val, testlist01 as test."""

    dataset_dir = "ucf101"
    template = "a photo of a person doing {}."  # the hand-written prompt (CoOp's zero-shot table)
    required = ["UCF-101-midframes/"]
    split_file = "split_zhou_UCF101.json"
    split_inputs = ["ucfTrainTestlist/classInd.txt", "ucfTrainTestlist/trainlist01.txt", "ucfTrainTestlist/testlist01.txt"]
    source = ("UCF-101-midframes.zip and split_zhou_UCF101.json from the CoOp DATASETS.md (Google Drive); "
              "ucfTrainTestlist from https://www.crcv.ucf.edu/data/UCF101.php")
    downloads = (
        Download(gdrive("10Jqome3vtUA2keJkNanAiFpgbyC9Hc2O"), "UCF-101-midframes/"),
        Download(gdrive("1I0S0q91hJfsV9Gf4xDIjgDq4AqBNJb1y"), split_file),
        Download("https://www.crcv.ucf.edu/data/UCF101/UCF101TrainTestSplits-RecognitionTask.zip",
                 "ucfTrainTestlist/classInd.txt"),
    )

    image_folder = "UCF-101-midframes"

    def generate_split(self):
        lists = os.path.join(self.dataset_dir, "ucfTrainTestlist")
        cname2lab = {}
        for line in read_text_lines(os.path.join(lists, "classInd.txt")):
            label, action = line.split(" ")
            cname2lab[action] = int(label) - 1
        trainval = read_ucf_list(self.image_dir, cname2lab, os.path.join(lists, "trainlist01.txt"))
        test = read_ucf_list(self.image_dir, cname2lab, os.path.join(lists, "testlist01.txt"))
        return (*split_trainval(trainval), test)
